"""Flatten neutral messages into the single `message` string.

Blocks `[<role>]: <text>` joined by a blank line; each text part is its own block;
tool results and assistant tool calls are replayed as text (tool calls as the `<tool_calls>`
XML of the tool prompt, `addons/tools/prompt.py`). Attachments are uploaded separately,
never inlined here.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

import orjson

from addons.jobs import Message

SOURCES_MARKER = "[grok2api-sources]: #"
# The gateway's own "## Sources" appendix: optional heading, the marker line, then list items.
_SOURCES_RE = re.compile(
    r"\n*(?:^|(?<=\n))(?:#{1,6} *Sources *\n)?\[grok2api-sources\]: #[ \t]*(?:\n- [^\n]*)*\n?"
)


def strip_sources(text: str) -> str:
    """Remove the `## Sources` appendix (marked by `[grok2api-sources]: #`) from `text`."""
    if SOURCES_MARKER not in text:
        return text
    return _SOURCES_RE.sub("\n\n", text).strip()


def compact_json(arguments: Any) -> str:
    """Tool-call arguments as single-line compact JSON; unparseable strings kept verbatim."""
    if isinstance(arguments, str):
        text = arguments.strip()
        if not text:
            return "{}"
        try:
            arguments = orjson.loads(text)
        except orjson.JSONDecodeError:
            return " ".join(text.splitlines())
    try:
        return orjson.dumps(arguments).decode("utf-8")
    except TypeError:
        return str(arguments)


def _call_name_args(call: dict[str, Any]) -> tuple[str, Any]:
    """Accept OpenAI (`function.name/arguments`), flat (`name/arguments`) and
    Anthropic-like (`name/input`) tool-call shapes."""
    fn = call.get("function")
    src = fn if isinstance(fn, dict) else call
    name = str(src.get("name") or "")
    if "arguments" in src:
        return name, src.get("arguments")
    return name, src.get("input", src.get("args", {}))


def tool_calls_xml(tool_calls: Iterable[dict[str, Any]]) -> str:
    lines = ["<tool_calls>"]
    for call in tool_calls:
        name, args = _call_name_args(call)
        lines.append("  <tool_call>")
        lines.append(f"    <tool_name>{name}</tool_name>")
        lines.append(f"    <parameters>{compact_json(args)}</parameters>")
        lines.append("  </tool_call>")
    lines.append("</tool_calls>")
    return "\n".join(lines)


def _message_blocks(msg: Message) -> list[str]:
    role = msg.role or "user"
    if role == "tool":
        label = f"[tool result for {msg.tool_call_id}]" if msg.tool_call_id else "[tool result]"
        text = "\n".join(p for p in msg.parts if p)
        return [f"{label}:\n{text}"]
    parts = msg.parts
    if role == "assistant":
        parts = [strip_sources(p) for p in parts]
    parts = [p for p in parts if p and p.strip()]
    if role == "assistant" and msg.tool_calls:
        xml = tool_calls_xml(msg.tool_calls)
        text = "\n".join(parts)
        return [f"[assistant]: {text}\n{xml}" if text else f"[assistant]:\n{xml}"]
    return [f"[{role}]: {p}" for p in parts]


def flatten(messages: list[Message]) -> str:
    """The payload's `message` string; empty when no message carries text (caller → 400)."""
    blocks: list[str] = []
    for msg in messages:
        blocks.extend(_message_blocks(msg))
    return "\n\n".join(blocks)
