"""Renders neutral events as OpenAI chat completions: SSE chunks or one JSON body."""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator

import orjson

from addons.events import (
    Citation, End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, ToolCall,
)
from addons.flow import Flow, Usage
from quart_app import sse
from quart_app.dialects.collect import Sources, collect

log = logging.getLogger(__name__)


def chat_finish(finish_reason: str) -> str:
    """OpenAI reports an answer ended by a stop sequence as a plain "stop"."""
    return "stop" if finish_reason == "stop_sequence" else finish_reason


def usage_block(usage: Usage) -> dict[str, Any]:
    text_tokens = usage.completion_tokens - usage.reasoning_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "text_tokens": usage.prompt_tokens,
                                  "audio_tokens": 0, "image_tokens": 0},
        "completion_tokens_details": {"text_tokens": text_tokens, "audio_tokens": 0,
                                      "reasoning_tokens": usage.reasoning_tokens},
    }


def tool_call_block(call: ToolCall) -> dict[str, Any]:
    """One entry of `tool_calls`: in a stream delta (with `index`) and in a message."""
    return {"index": call.index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def annotation(cite: Citation, shift: int = 0) -> dict[str, Any]:
    """One chat `url_citation` annotation; `shift` moves it left by stripped text."""
    return {"type": "url_citation", "url_citation": {
        "url": cite.url, "title": cite.title,
        "start_index": cite.start - shift, "end_index": cite.end - shift}}


class ChunkWriter:
    """Pre-encodes the constant part of every chunk: the hot path only encodes the delta."""

    def __init__(self, flow: Flow, model: str) -> None:
        head = orjson.dumps({"id": flow.id, "object": "chat.completion.chunk",
                             "created": flow.created, "model": model})
        self._head = b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":'
        self._tail = b',"finish_reason":null}]}\n\n'
        self._content = self._head + b'{"content":'
        self._reasoning = self._head + b'{"reasoning_content":'
        self._base = orjson.loads(head)

    def content(self, text: str) -> bytes:
        return self._content + orjson.dumps(text) + b"}" + self._tail

    def reasoning(self, text: str) -> bytes:
        return self._reasoning + orjson.dumps(text) + b"}" + self._tail

    def delta(self, delta: dict) -> bytes:
        return self._head + orjson.dumps(delta) + self._tail

    def final(self, finish_reason: str, extra: dict, delta: dict | None = None) -> bytes:
        chunk = {**self._base,
                 "choices": [{"index": 0, "delta": delta or {},
                              "finish_reason": chat_finish(finish_reason)}],
                 **extra}
        return sse.data(chunk)

    def usage(self, usage: Usage) -> bytes:
        return sse.data({**self._base, "choices": [], "usage": usage_block(usage)})


async def stream_chat(pipeline: Any, flow: Flow, model: str) -> AsyncIterator[bytes]:
    """The SSE body. Runs after `pipeline.open()` succeeded; always closes the pipeline."""
    req = flow.request
    writer = ChunkWriter(flow, model)
    sources = Sources()
    cites: list[Citation] = []
    text_started = False
    tail = b""  # the end of the answer: sent with [DONE] in one write, once the flow is closed
    try:
        yield sse.PING + writer.delta({"role": "assistant", "content": ""})
        async for batch in pipeline.events(flow):
            out: list[bytes] = []
            ended = False
            for ev in batch:
                cls = type(ev)
                if cls is TextDelta:
                    text_started = True
                    out.append(writer.content(ev.text))
                elif cls is ReasoningDelta:
                    if req.reasoning and not text_started:
                        out.append(writer.reasoning(ev.text))
                elif cls is ToolCall:
                    # id, name and the whole arguments in one chunk per call (OpenAI allows it)
                    text_started = True
                    out.append(writer.delta({"tool_calls": [tool_call_block(ev)]}))
                elif cls is Heartbeat:
                    out.append(sse.PING)
                elif cls is SearchSources:
                    sources.add(ev.sources)
                elif cls is Citation:
                    cites.append(ev)
                elif cls is Restart:
                    sources = Sources()
                    cites = []
                elif cls is End:
                    ended = True
                    extra: dict[str, Any] = {}
                    if sources.items:
                        extra["search_sources"] = sources.items
                    if not req.include_usage:
                        extra["usage"] = usage_block(flow.usage)
                    delta = {"annotations": [annotation(c) for c in cites]} if cites else None
                    out.append(writer.final(ev.finish_reason, extra, delta))
                    if req.include_usage:
                        out.append(writer.usage(flow.usage))
            if ended:
                tail = b"".join(out)
            elif out:
                yield b"".join(out)
    except Exception as exc:  # noqa: BLE001 - the client still gets a well-formed end
        tail = sse.error_tail(exc, log, flow.id)
    finally:
        await pipeline.close(flow)
    yield tail + sse.DONE


async def complete_chat(pipeline: Any, flow: Flow, model: str) -> dict[str, Any]:
    """The non-stream body. Raises ApiError when the flow fails."""
    req = flow.request
    got = await collect(pipeline, flow)
    calls, cites, sources = got.calls, got.cites, got.sources
    content = "".join(got.text)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    shift = 0
    if calls:
        # text the model wrote before its calls is kept; an answer that is only calls has null
        message["content"] = content.strip() or None
        shift = len(content) - len(content.lstrip())
        cites = [c for c in cites if c.end - shift <= len(message["content"] or "")]
        message["tool_calls"] = [{k: v for k, v in tool_call_block(c).items() if k != "index"}
                                 for c in calls]
    if cites:
        message["annotations"] = [annotation(c, shift) for c in cites]
    if req.reasoning and got.reasoning:
        message["reasoning_content"] = "".join(got.reasoning)
    body: dict[str, Any] = {
        "id": flow.id, "object": "chat.completion", "created": flow.created, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": chat_finish(got.finish)}],
        "usage": usage_block(flow.usage),
    }
    if sources.items:
        body["search_sources"] = sources.items
    return body
