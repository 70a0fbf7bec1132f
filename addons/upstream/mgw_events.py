"""grok.com `ws/mgw` server events → neutral events (docs/upstream.md, "The mgw WebSocket").

The mgw gateway speaks JSON envelopes `{"session_id": …, "event": {"type": …}}`, one per
WebSocket text message. `MgwEventParser.feed(message)` turns one message into the SAME
neutral events the REST NDJSON parser (`frames.py`) produces for the same content, so the
addons downstream cannot tell the transports apart:

* `response.chunk` text on an ANALYSIS/REASONING channel → ReasoningDelta; on
  `CHANNEL_ASSISTANT_RESPONSE` or no channel → TextDelta; other channels are ignored;
* `tool_usage_card` → one reasoning line (as REST `tool_usage_card` frames);
* `tool_result` / `response.search.result` → SearchSources (web and X, de-duplicated by URL);
* `render_citation` → the citation card plus a `<grok:render>` element in the answer text,
  exactly what a REST stream carries, so the citations addon renders both alike;
* `response.done` → End (status other than `completed` → UpstreamFailure); it is the only end
  marker, so nothing else ends the turn as complete;
* `error`, `stream_error` → UpstreamFailure with the REST status mapping
  (`frames.failure_status`: rate/usage limit → 429, else 502); `session.ended` before
  `response.done` → a 502 truncation (`UPSTREAM_TRUNCATED`).

After the terminal event every further message is ignored.
"""
from __future__ import annotations

from typing import Any

import orjson

from addons.events import (
    CardAttachment,
    ConversationStarted,
    End,
    Event,
    FinalMessage,
    ResponseMeta,
    SearchSources,
    TextDelta,
    UpstreamFailure,
    UPSTREAM_TRUNCATED,
)
from addons.upstream.frames import add_web_sources, add_x_source, card_attachment, failure_status
from addons.upstream.reasoning import ReasoningFormatter, tool_line

_RAW_LIMIT = 400


def _error_message(err: Any) -> tuple[Any, str]:
    if isinstance(err, dict):
        msg = err.get("message") or err.get("error") or err.get("detail") or "upstream stream error"
        return err.get("code"), str(msg)
    return None, str(err or "upstream stream error")


def citation_element(card_id: str, citation_id: Any) -> str:
    """The REST-shaped `<grok:render>` element for a citation card."""
    return (f'<grok:render card_id="{card_id}" card_type="citation_card" '
            f'type="render_inline_citation"><argument name="citation_id">{citation_id}'
            '</argument></grok:render>')


class MgwEventParser:
    """Stateful parser for one mgw session. `init_event_id` is the `event_id` of our
    `session.create`; a `session.created` answering another id is ignored."""

    __slots__ = ("init_event_id", "session_id", "conversation_id", "created", "attached",
                 "ended", "failed", "_reasoning", "_seen_urls")

    def __init__(self, init_event_id: str | None = None) -> None:
        self.init_event_id = init_event_id
        self.session_id: str | None = None
        self.conversation_id: str | None = None
        self.created = False
        self.attached = False
        self.ended = False
        self.failed = False
        self._reasoning = ReasoningFormatter()
        self._seen_urls: set[str] = set()

    @property
    def ready(self) -> bool:
        """Both `session.created` and `conversation.attached` arrived: the turn may be sent."""
        return self.created and self.attached

    @property
    def done(self) -> bool:
        return self.ended or self.failed

    def feed(self, message: str | bytes) -> list[Event]:
        out: list[Event] = []
        if self.done:
            return out
        try:
            obj = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._fail(502, "malformed upstream event (invalid JSON)", message, out)
            return out
        if not isinstance(obj, dict):
            return out
        event = obj.get("event")
        if not isinstance(event, dict):
            return out
        sid = obj.get("session_id")
        etype = event.get("type")
        if etype == "response.chunk":
            chunk = event.get("chunk")
            if isinstance(chunk, dict):
                self._chunk(chunk, out)
        elif etype == "response.output_text.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._text(delta, out)
        elif etype == "response.output_text.done":
            text = event.get("text")
            if isinstance(text, str):
                out.append(FinalMessage(text))
        elif etype == "response.search.result":
            result = event.get("result")
            if isinstance(result, dict):
                self._web([result], out)
        elif etype == "response.grok.output":
            self._grok_output(event.get("output"), message, out)
        elif etype == "response.done":
            self._done(event.get("response"), message, out)
        elif etype == "error":
            code, msg = _error_message(event.get("error"))
            self._fail(failure_status(code, msg), f"Upstream stream error: {msg}", message, out)
        elif etype == "session.ended":
            self._fail(502, "upstream session ended before the response was done", message, out,
                       UPSTREAM_TRUNCATED)
        elif etype == "session.created":
            client_id = event.get("client_event_id")
            if not client_id or not self.init_event_id or client_id == self.init_event_id:
                self.created = True
                if isinstance(sid, str) and sid:
                    self.session_id = sid
        elif etype == "conversation.attached":
            conv = event.get("conversation")
            cid = conv.get("id") if isinstance(conv, dict) else None
            cid = cid or sid
            self.attached = True
            if isinstance(cid, str) and cid and cid != self.conversation_id:
                self.conversation_id = cid
                out.append(ConversationStarted(cid))
        return out

    # ---- response.chunk ---------------------------------------------------------------

    def _chunk(self, chunk: dict[str, Any], out: list[Event]) -> None:
        text = chunk.get("text")
        if isinstance(text, dict):
            value = text.get("text")
            if isinstance(value, str) and value:
                channel = str(text.get("channel") or "").upper()
                if "ANALYSIS" in channel or "REASONING" in channel:
                    self._reasoning.thinking(value, None, None, None, out)
                elif not channel or channel == "CHANNEL_ASSISTANT_RESPONSE":
                    self._text(value, out)
        card = chunk.get("tool_usage_card")
        if isinstance(card, dict):
            line = tool_line({"toolUsageCard": card})
            if line:
                self._reasoning.line(line, None, out)
        result = chunk.get("tool_result")
        if isinstance(result, dict):
            self._tool_result(result, out)
        citation = chunk.get("render_citation")
        if isinstance(citation, dict):
            self._citation(citation, out)

    def _text(self, text: str, out: list[Event]) -> None:
        self._reasoning.answer_started = True
        out.append(TextDelta(text))

    def _citation(self, cite: dict[str, Any], out: list[Event]) -> None:
        url = cite.get("url")
        if not isinstance(url, str) or not url:
            return
        card_id = str(cite.get("id") or f"mgw-cite-{len(self._seen_urls)}")
        out.append(CardAttachment({"id": card_id, "type": "render_inline_citation",
                                   "cardType": "citation_card", "url": url}))
        self._text(citation_element(card_id, cite.get("citation_id", 0)), out)

    def _tool_result(self, result: dict[str, Any], out: list[Event]) -> None:
        for value in result.values():
            if not isinstance(value, dict):
                continue
            pages = value.get("webpages") or value.get("results")
            if isinstance(pages, list):
                self._web(pages, out)
            posts = value.get("posts")
            if isinstance(posts, list):
                self._x(posts, out)

    def _web(self, items: list[Any], out: list[Event]) -> None:
        new: list[dict[str, str]] = []
        add_web_sources(items, self._seen_urls, new)
        if new:
            out.append(SearchSources(new))

    def _x(self, posts: list[Any], out: list[Event]) -> None:
        new: list[dict[str, str]] = []
        for post in posts:
            if not isinstance(post, dict):
                continue
            user = post.get("userhandle") or post.get("username")
            post_id = post.get("post_id") or post.get("postId")
            if not user or not post_id:
                continue
            add_x_source(user, post_id, post.get("text"), self._seen_urls, new)
        if new:
            out.append(SearchSources(new))

    # ---- other events -----------------------------------------------------------------

    def _grok_output(self, output: Any, raw: str | bytes, out: list[Event]) -> None:
        if not isinstance(output, dict):
            return
        err = output.get("stream_error")
        if err:
            code, msg = _error_message(err)
            self._fail(failure_status(code, msg), f"Upstream stream error: {msg}", raw, out)
            return
        card_attachment(output.get("card_attachment"), out)

    def _done(self, response: Any, raw: str | bytes, out: list[Event]) -> None:
        response = response if isinstance(response, dict) else {}
        rid = response.get("id")
        if rid:
            out.append(ResponseMeta(response_id=str(rid)))
        status = response.get("status")
        if status and status != "completed":
            self._fail(502, f"Upstream response ended with status {status!r}", raw, out)
            return
        self.ended = True
        out.append(End())

    def _fail(self, status: int, message: str, raw: str | bytes, out: list[Event],
              code: str = "") -> None:
        self.failed = True
        if isinstance(raw, (bytes, bytearray)):
            raw = bytes(raw[: _RAW_LIMIT * 4]).decode("utf-8", "replace")
        out.append(UpstreamFailure(status, message, raw[:_RAW_LIMIT], code))
