"""Reasoning text from grok.com's thinking tokens (`thinking_summary=false`).

* header/summary tokens are whole steps: a leading "- " is removed, each step ends with
  "\\n", and a step already shown for the same rollout is suppressed;
* other thinking tokens (e.g. `analysis`) may be fragments: passed through, with a
  line break inserted when the step id changes;
* multi-agent streams get a `\\n[<rolloutId>]\\n` marker whenever the agent changes,
  but only once a second agent has appeared (single-agent streams stay unmarked);
* server-side tool cards become one line such as `🔍 web_search: <query>`;
* nothing is emitted once the answer text has started (late reasoning is dropped).
"""
from __future__ import annotations

import re
from typing import Any

import orjson

from addons.events import Event, ReasoningDelta

#: Reasoning tags whose tokens are whole steps (one line each, de-duplicated).
LINE_TAGS = frozenset({"header", "summary"})
_TOOL_FORMAT: dict[str, tuple[str, tuple[str, ...]]] = {
    "web_search": ("🔍", ("query", "q")),
    "x_search": ("🔍", ("query",)),
    "x_keyword_search": ("🔍", ("query",)),
    "x_semantic_search": ("🔍", ("query",)),
    "browse_page": ("🌐", ("url",)),
    "search_images": ("🖼️", ("image_description", "imageDescription", "query")),
    "image_search": ("🖼️", ("image_description", "imageDescription", "query")),
    "chatroom_send": ("📋", ("message",)),
    "code_execution": ("💻", ()),
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_XAI_TOOL_NAME = re.compile(r"<xai:tool_name>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</xai:tool_name>", re.S)
_XAI_TOOL_ARGS = re.compile(r"<xai:tool_args>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</xai:tool_args>", re.S)


def tool_line(resp: dict[str, Any]) -> str:
    """One line for a `tool_usage_card` frame: from the structured `toolUsageCard`
    (key camelCase → snake_case), else from the older in-token `<xai:tool_name>` XML."""
    name, args = "", {}
    card = resp.get("toolUsageCard")
    if isinstance(card, dict):
        for key, value in card.items():
            if key != "toolUsageCardId" and isinstance(value, dict):
                name = _CAMEL.sub("_", key).lower()
                raw = value.get("args")
                args = raw if isinstance(raw, dict) else {}
                break
    token = resp.get("token")
    if not name and isinstance(token, str) and "<xai:tool_name>" in token:
        m = _XAI_TOOL_NAME.search(token)
        name = m.group(1).strip() if m else ""
        m = _XAI_TOOL_ARGS.search(token)
        if m:
            try:
                parsed = orjson.loads(m.group(1))
            except orjson.JSONDecodeError:
                parsed = None
            args = parsed if isinstance(parsed, dict) else {}
    if not name:
        return ""
    emoji, keys = _TOOL_FORMAT.get(name, ("🔧", ()))
    shown = next((str(args[k]).strip() for k in keys if args.get(k)), "")
    return f"{emoji} {name}: {shown}" if shown else f"{emoji} {name}"


class ReasoningFormatter:
    """Per-stream reasoning state. `answer_started` is set by the frame parser."""

    __slots__ = ("answer_started", "_last_rollout", "_keys", "_open", "_last_step")

    def __init__(self) -> None:
        self.answer_started = False
        self._last_rollout: str | None = None
        self._keys: set[tuple[str, str]] = set()
        self._open = False  # the last piece emitted did not end with "\n"
        self._last_step: Any = None

    def thinking(self, text: str, tag: Any, rollout: Any, step: Any, out: list[Event]) -> None:
        """One thinking token."""
        if self.answer_started:
            return
        whole = tag in LINE_TAGS
        new_step = step != self._last_step
        self._last_step = step
        if (whole or new_step or not self._open) and text.startswith("- "):
            text = text[2:]
        if not text:
            return
        if whole:
            self.line(text, rollout, out)
            return
        self._marker(rollout, out)
        if new_step and self._open:
            text = "\n" + text
        self._open = not text.endswith("\n")
        out.append(ReasoningDelta(text))

    def line(self, text: str, rollout: Any, out: list[Event]) -> None:
        """One whole reasoning line (a step or a tool card), de-duplicated per rollout."""
        if self.answer_started:
            return
        key = (str(rollout or ""), text)
        if key in self._keys:
            return
        self._keys.add(key)
        self._marker(rollout, out)
        if self._open:
            text = "\n" + text
        if not text.endswith("\n"):
            text += "\n"
        self._open = False
        out.append(ReasoningDelta(text))

    def _marker(self, rollout: Any, out: list[Event]) -> None:
        if not rollout or rollout == self._last_rollout:
            return
        first = self._last_rollout is None
        self._last_rollout = str(rollout)
        if not first:
            out.append(ReasoningDelta(("\n" if self._open else "") + f"\n[{rollout}]\n"))
            self._open = False
