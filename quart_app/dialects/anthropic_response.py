"""Renders neutral events as Anthropic Messages: the SSE event sequence or one message object.

Content blocks are numbered consecutively in the order they open: thinking (closed with a
placeholder signature when the first text or tool call arrives), text, then one tool_use
block per call. Text after a tool call is discarded. Every frame carries an
`event:` line: the Anthropic SDK skips frames without one.
"""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator

import orjson

from addons.errors import ApiError
from addons.events import (
    Citation, End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, ToolCall,
)
from addons.flow import Flow
from addons.services.token_estimate import estimate_tokens
from addons.usage import PROMPT_OVERHEAD
from quart_app.dialects.collect import Sources, collect
from quart_app.errors import error_payload

log = logging.getLogger(__name__)

#: Grok gives no thinking signature; clients only need an opaque, non-empty string.
SIGNATURE = "g2a-sig-0"
STOP_REASONS = {"length": "max_tokens", "stop_sequence": "stop_sequence"}


def frame(name: str, payload: object) -> bytes:
    """`event: <name>` + one `data:` line (orjson never emits a raw newline)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


PING = frame("ping", {"type": "ping"})
MESSAGE_STOP = frame("message_stop", {"type": "message_stop"})


def error_frame(err: ApiError) -> bytes:
    return frame("error", error_payload(err, anthropic=True))


def input_tokens(flow: Flow) -> int:
    """The estimate `UsageCounter` reports as prompt tokens, available before the answer."""
    return estimate_tokens(flow.prompt) + PROMPT_OVERHEAD


def tool_use_id(call_id: str) -> str:
    """`call_<ms><hex>` → `toolu_<ms><hex>` (clients rely only on the prefix)."""
    return "toolu_" + call_id.removeprefix("call_")


def tool_input(arguments: str) -> dict[str, Any]:
    """The call's arguments as an object; unparsable or non-object arguments become {}."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def stop_reason(finish_reason: str, tool_calls: int) -> str:
    if tool_calls:
        return "tool_use"
    return STOP_REASONS.get(finish_reason, "end_turn")


def stop_sequence(flow: Flow, reason: str) -> str | None:
    """The matched stop sequence, when that is what ended the message."""
    return flow.stop_sequence if reason == "stop_sequence" else None


def annotation(cite: Citation) -> dict[str, Any]:
    """A flat `url_citation` (beyond Anthropic's format); offsets index the text block."""
    return {"type": "url_citation", "url": cite.url, "title": cite.title,
            "start_index": cite.start, "end_index": cite.end}


def search_extras(sources: Sources, cites: list[Citation]) -> dict[str, Any]:
    """`search_sources` / `annotations`, each only when present (stream: in
    `message_delta`; non-stream: at the message's root)."""
    extra: dict[str, Any] = {}
    if sources.items:
        extra["search_sources"] = sources.items
    if cites:
        extra["annotations"] = [annotation(c) for c in cites]
    return extra


def message_head(flow: Flow, model: str) -> dict[str, Any]:
    return {"id": flow.id, "type": "message", "role": "assistant", "model": model}


class BlockWriter:
    """Stream state of one message: which block is open and the next block index."""

    def __init__(self) -> None:
        self.index = -1
        self.open: str | None = None  # thinking | text | None
        self.text_started = False
        self.tool_calls = 0
        delta = b'{"type":"content_block_delta","index":'
        self._delta = b"event: content_block_delta\ndata: " + delta

    def _start(self, block: dict[str, Any]) -> bytes:
        self.index += 1
        self.open = block["type"]
        return frame("content_block_start", {"type": "content_block_start", "index": self.index,
                                             "content_block": block})

    def _delta_frame(self, delta: dict[str, Any]) -> bytes:
        return frame("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": delta})

    def close(self) -> bytes:
        """Closes the open block, if any (a thinking block gets its signature first)."""
        if self.open is None:
            return b""
        out = b""
        if self.open == "thinking":
            out = self._delta_frame({"type": "signature_delta", "signature": SIGNATURE})
        self.open = None
        return out + frame("content_block_stop", {"type": "content_block_stop",
                                                  "index": self.index})

    def thinking(self, text: str) -> bytes:
        if self.text_started or self.tool_calls or not text:
            return b""  # reasoning after the answer began has no block left to go to
        out = b"" if self.open == "thinking" else self._start({"type": "thinking", "thinking": ""})
        return out + self._delta + str(self.index).encode() + \
            b',"delta":{"type":"thinking_delta","thinking":' + orjson.dumps(text) + b"}}\n\n"

    def text(self, text: str) -> bytes:
        if self.tool_calls or not text:
            return b""  # text after a tool call is dropped
        out = b""
        if self.open != "text":
            out = self.close() + self._start({"type": "text", "text": ""})
            self.text_started = True
        return out + self._delta + str(self.index).encode() + \
            b',"delta":{"type":"text_delta","text":' + orjson.dumps(text) + b"}}\n\n"

    def tool(self, call: ToolCall) -> bytes:
        self.tool_calls += 1
        arguments = orjson.dumps(tool_input(call.arguments)).decode()
        out = self.close() + self._start({"type": "tool_use", "id": tool_use_id(call.id),
                                         "name": call.name, "input": {}})
        out += self._delta_frame({"type": "input_json_delta", "partial_json": arguments})
        return out + self.close()

    def end(self, flow: Flow, finish_reason: str, extra: dict[str, Any] | None = None) -> bytes:
        reason = stop_reason(finish_reason, self.tool_calls)
        delta = {"stop_reason": reason, "stop_sequence": stop_sequence(flow, reason),
                 **(extra or {})}
        return self.close() + frame("message_delta", {
            "type": "message_delta", "delta": delta,
            "usage": {"output_tokens": flow.usage.completion_tokens}}) + MESSAGE_STOP


async def stream_messages(pipeline: Any, flow: Flow, model: str) -> AsyncIterator[bytes]:
    """The SSE body. Runs after `pipeline.open()` succeeded; always closes the pipeline."""
    reasoning = flow.request.reasoning
    blocks = BlockWriter()
    sources = Sources()
    cites: list[Citation] = []
    start = {"type": "message_start", "message": {
        **message_head(flow, model), "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens(flow), "output_tokens": 0}}}
    try:
        yield frame("message_start", start) + PING
        async for batch in pipeline.events(flow):
            out: list[bytes] = []
            for ev in batch:
                cls = type(ev)
                if cls is TextDelta:
                    out.append(blocks.text(ev.text))
                elif cls is ReasoningDelta:
                    if reasoning:
                        out.append(blocks.thinking(ev.text))
                elif cls is ToolCall:
                    out.append(blocks.tool(ev))
                elif cls is Heartbeat:
                    out.append(PING)
                elif cls is SearchSources:
                    sources.add(ev.sources)
                elif cls is Citation:
                    if not blocks.tool_calls:
                        cites.append(ev)
                elif cls is Restart and blocks.index < 0:
                    blocks = BlockWriter()  # nothing reached the client: start clean
                    sources, cites = Sources(), []
                elif cls is End:
                    out.append(blocks.end(flow, ev.finish_reason, search_extras(sources, cites)))
            data = b"".join(out)
            if data:
                yield data
    except ApiError as err:
        yield error_frame(err)
    except Exception:  # noqa: BLE001 - the client still gets a well-formed end of stream
        log.exception("stream %s failed", flow.id)
        yield error_frame(ApiError(500, "Internal server error", type="server_error",
                                   code="internal_error"))
    finally:
        await pipeline.close(flow)


async def complete_message(pipeline: Any, flow: Flow, model: str) -> dict[str, Any]:
    """The non-stream message object. Raises ApiError when the flow fails."""
    got = await collect(pipeline, flow, text_after_calls=False)  # text after a call is dropped
    calls, cites, reasoning = got.calls, got.cites, got.reasoning
    content: list[dict[str, Any]] = []
    if flow.request.reasoning and reasoning:
        content.append({"type": "thinking", "thinking": "".join(reasoning),
                        "signature": SIGNATURE})
    answer = "".join(got.text)
    if answer or not calls:
        block: dict[str, Any] = {"type": "text", "text": answer}
        if cites:
            block["annotations"] = [annotation(c) for c in cites]
        content.append(block)
    content.extend({"type": "tool_use", "id": tool_use_id(c.id), "name": c.name,
                    "input": tool_input(c.arguments)} for c in calls)
    reason = stop_reason(got.finish, len(calls))
    return {**message_head(flow, model), "content": content,
            "stop_reason": reason, "stop_sequence": stop_sequence(flow, reason),
            "usage": {"input_tokens": flow.usage.prompt_tokens,
                      "output_tokens": flow.usage.completion_tokens},
            **search_extras(got.sources, [])}
