"""REST chat plan → mgw server events (docs/upstream.md, "The mgw WebSocket"). Pure, no I/O.

The WebSocket endpoint does not generate content of its own: `build_plan` (chat.py) plans
the REST NDJSON frames for the turn, and `mgw_events` rewrites them frame by frame:

* thinking tokens → `response.chunk` text on `CHANNEL_ANALYSIS` (one line per step);
* answer tokens → `CHANNEL_ASSISTANT_RESPONSE` text; a complete citation `<grok:render>`
  whose card was announced becomes a `render_citation` chunk (the card itself is not sent);
* tool cards → `tool_usage_card` chunks (snake_case tool keys); web / X results →
  `tool_result` chunks, plus one `response.search.result` per web result;
* other cards → `response.grok.output` `card_attachment`; `modelResponse.message` →
  `response.output_text.done`; stream errors → `response.grok.output` `stream_error`;
* top-level and `result.response` errors → an `error` event, which ends the turn;
* a normal end → `response.done` `{id, status: "completed"}`; a turn planned to stop before
  its end markers (cut, truncated, ended early) gets none.

Each frame's delay applies to the first event made from it; the stall moves to the first
event made from its frame or a later one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ops.simulator.chat import ChatPlan

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RENDER = re.compile(r"<grok:render\b[^>]*>.*?</grok:render>", re.S)
_ATTR = re.compile(r'([\w:-]+)="([^"]*)"')
_ARG = re.compile(r'<argument name="citation_id">([^<]*)</argument>')


@dataclass(slots=True)
class MgwPlan:
    """What the WebSocket handler sends: (delay before, event) pairs and transport actions."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    #: Sleep this long before sending events[stall_at].
    stall_at: int | None = None
    stall_seconds: float = 0.0
    #: After the last event, drop the connection without a close frame.
    cut: bool = False
    #: Send only the first half of the last event's JSON, then drop the connection.
    truncate_last: bool = False
    #: After the last event, close the WebSocket cleanly (a close frame), with no response.done.
    close: bool = False
    failed: bool = False


@dataclass(slots=True)
class MgwSession:
    """One accepted `ws/mgw` connection and every frame the client sent on it (parsed JSON)."""

    token: str
    user_id: str
    headers: dict[str, str]
    frames: list[Any] = field(default_factory=list)
    conversation_id: str | None = None

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The `event` objects of type `kind`, in order."""
        return [f["event"] for f in self.frames
                if isinstance(f, dict) and isinstance(f.get("event"), dict) and f["event"].get("type") == kind]

    @property
    def model(self) -> str | None:
        created = self.events("session.create")
        return created[-1].get("session", {}).get("model") if created else None

    @property
    def message(self) -> str | None:
        """The text chunks of the last `conversation.item.create`."""
        items = self.events("conversation.item.create")
        if not items:
            return None
        chunks = items[-1].get("item", {}).get("x_grok", {}).get("input_chunks", [])
        return "".join(c["text"].get("text", "") for c in chunks if isinstance(c.get("text"), dict))

    @property
    def file_ids(self) -> list[str]:
        items = self.events("conversation.item.create")
        return list(items[-1].get("file_attachment_ids") or []) if items else []


def envelope(session_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": session_id, "event": event}


def _chunk(**chunk: Any) -> dict[str, Any]:
    return {"type": "response.chunk", "chunk": chunk}


def _text(text: str, channel: str) -> dict[str, Any]:
    return _chunk(text={"text": text, "channel": channel})


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def _error(err: Any) -> dict[str, Any]:
    err = err if isinstance(err, dict) else {"message": str(err)}
    return {"type": "error", "error": {"code": err.get("code"), "message": err.get("message")}}


class _Converter:
    def __init__(self) -> None:
        self.cards: dict[str, dict[str, Any]] = {}
        self.failed = False
        self.response_id: str | None = None

    def frame(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in frame:
            self.failed = True
            return [_error(frame["error"])]
        resp = (frame.get("result") or {}).get("response")
        if not isinstance(resp, dict):
            return []  # result.conversation: the session already carries the id
        self.response_id = resp.get("responseId") or self.response_id
        if resp.get("error"):
            self.failed = True
            return [_error(resp["error"])]
        out: list[dict[str, Any]] = []
        card = resp.get("cardAttachment")
        if isinstance(card, dict):
            out += self._card(card)
        tool = resp.get("toolUsageCard")
        if isinstance(tool, dict):
            out.append(_chunk(tool_usage_card={
                ("tool_usage_card_id" if k == "toolUsageCardId" else _snake(k)): v
                for k, v in tool.items()}))
        web = (resp.get("webSearchResults") or {}).get("results")
        if isinstance(web, list):
            pages = [{"url": r.get("url"), "title": r.get("title"), "snippet": r.get("preview", "")}
                     for r in web if isinstance(r, dict)]
            out.append(_chunk(tool_result={"tool_call_id": resp.get("toolUsageCardId") or "web",
                                           "web_search": {"webpages": pages}}))
            out += [{"type": "response.search.result", "result": {"url": p["url"], "title": p["title"]}}
                    for p in pages]
        xs = (resp.get("xSearchResults") or {}).get("results")
        if isinstance(xs, list):
            posts = [{"userhandle": r.get("username"), "name": r.get("name"), "text": r.get("text"),
                      "post_id": r.get("postId")} for r in xs if isinstance(r, dict)]
            out.append(_chunk(tool_result={"tool_call_id": "x", "x_post": {"posts": posts}}))
        model = resp.get("modelResponse")
        if isinstance(model, dict):
            out += self._model(model)
        token = resp.get("token")
        tag = resp.get("messageTag")
        if isinstance(token, str) and token and tag != "tool_usage_card":
            if resp.get("isThinking"):
                if tag != "raw_function_result":
                    text = token[2:] if token.startswith("- ") else token
                    out.append(_text(text if text.endswith("\n") else text + "\n", "CHANNEL_ANALYSIS"))
            elif tag == "final":
                out += self._answer(token)
        return out

    def _card(self, card: dict[str, Any]) -> list[dict[str, Any]]:
        data = card.get("jsonData")
        try:
            parsed = orjson.loads(data) if isinstance(data, str) else data
        except orjson.JSONDecodeError:
            return []
        if isinstance(parsed, dict) and parsed.get("type") == "render_inline_citation":
            self.cards[str(parsed.get("id"))] = parsed
            return []
        return [{"type": "response.grok.output", "output": {"card_attachment": card}}]

    def _model(self, model: dict[str, Any]) -> list[dict[str, Any]]:
        errors = model.get("streamErrors")
        if errors:
            self.failed = True
            first = errors[0] if isinstance(errors, list) else errors
            return [{"type": "response.grok.output", "output": {"stream_error": first}}]
        message = model.get("message")
        return [{"type": "response.output_text.done", "text": message}] if isinstance(message, str) else []

    def _answer(self, token: str) -> list[dict[str, Any]]:
        """Answer text; a whole citation element with a known card becomes `render_citation`."""
        out: list[dict[str, Any]] = []
        pos = 0
        for m in _RENDER.finditer(token):
            attrs = dict(_ATTR.findall(m.group(0)))
            card = self.cards.get(attrs.get("card_id", ""))
            if card is None:
                continue
            if m.start() > pos:
                out.append(_text(token[pos:m.start()], "CHANNEL_ASSISTANT_RESPONSE"))
            arg = _ARG.search(m.group(0))
            out.append(_chunk(render_citation={
                "id": card.get("id"), "kind": "CITATION_KIND_WEB_PAGE", "url": card.get("url"),
                "citation_id": int(arg.group(1)) if arg and arg.group(1).isdigit() else 0}))
            pos = m.end()
        if pos < len(token):
            out.append(_text(token[pos:], "CHANNEL_ASSISTANT_RESPONSE"))
        return out


def mgw_events(plan: ChatPlan, session_id: str) -> MgwPlan:
    """The mgw events for one planned REST turn (see the module docstring)."""
    conv = _Converter()
    result = MgwPlan(cut=plan.cut, truncate_last=plan.truncate_last, close=plan.ended_early)
    stall_pending = False
    for i, frame in enumerate(plan.frames):
        # a frame with no mgw counterpart drops its delay, so the first event is not late
        carry = plan.delays[i] if i < len(plan.delays) else 0.0
        if plan.stall_at is not None and i == plan.stall_at:
            stall_pending = True
        for event in conv.frame(frame):
            if stall_pending:
                result.stall_at, result.stall_seconds = len(result.events), plan.stall_seconds
                stall_pending = False
            result.events.append((carry, envelope(session_id, event)))
            carry = 0.0
        if conv.failed:
            break
    result.failed = conv.failed
    if not conv.failed and not (plan.cut or plan.truncate_last or plan.ended_early):
        done = {"type": "response.done",
                "response": {"id": conv.response_id or session_id, "status": "completed"}}
        if stall_pending:
            result.stall_at, result.stall_seconds = len(result.events), plan.stall_seconds
        result.events.append((0.0, envelope(session_id, done)))
    return result
