"""Renders neutral events as an OpenAI Responses object or its event stream.

One builder serves both modes, so the streamed items and the final object cannot disagree:
in stream mode it also encodes every event, each with the next `sequence_number`.
"""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator

import orjson

from addons.errors import ApiError
from addons.events import (
    Citation, End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, ToolCall,
)
from addons.flow import Flow, Usage, new_id
from quart_app import sse
from quart_app.dialects.collect import Sources, drain
from quart_app.errors import request_id_field

log = logging.getLogger(__name__)

EMPTY_ANSWER = "Upstream ended the answer without any output"


def usage_block(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


class ResponseBuilder:
    """Output items from neutral events. Items open and close one at a time, in output order:
    reasoning (closed by the first visible text or call), message, function calls."""

    def __init__(self, flow: Flow, model: str, echo: dict[str, Any], stream: bool) -> None:
        self.flow = flow
        self.model = model
        self.echo = echo
        self.stream = stream
        self.seq = 0
        self.out: list[bytes] = []
        self.reset()

    def reset(self) -> None:
        """A retry discarded the attempt's events (Restart): start the output over."""
        self.output: list[dict[str, Any]] = []
        self.sources = Sources()
        self.reasoning: dict[str, Any] | None = None
        self.message: dict[str, Any] | None = None
        self.parts: list[str] = []
        self.annotations: list[dict[str, Any]] = []  # url_citation of the open message
        self.visible = False  # text or a call arrived: later reasoning is not shown
        self._delta_head = b""

    # ---- encoding ---------------------------------------------------------------------
    def emit(self, name: str, payload: dict[str, Any]) -> None:
        if self.stream:
            self.out.append(sse.event(name, {"type": name, **payload, "sequence_number": self.seq}))
            self.seq += 1

    def _delta(self, text: str) -> None:
        """Hot path: the constant part of a delta event is encoded once per item."""
        if self.stream:
            self.out.append(self._delta_head + orjson.dumps(text)
                            + b',"sequence_number":%d}\n\n' % self.seq)
            self.seq += 1

    def _set_delta_head(self, name: str, fields: dict[str, Any]) -> None:
        if self.stream:
            head = orjson.dumps({"type": name, **fields})[:-1]
            self._delta_head = b"event: " + name.encode() + b"\ndata: " + head + b',"delta":'

    def take(self) -> bytes:
        data, self.out = b"".join(self.out), []
        return data

    # ---- the response object ----------------------------------------------------------
    def response(self, status: str, output: list[dict[str, Any]] | None = None,
                 **extra: Any) -> dict[str, Any]:
        return {
            "id": self.flow.id, "object": "response", "created_at": self.flow.created,
            "status": status, "model": self.model,
            "output": list(self.output) if output is None else output,
            "error": None, "incomplete_details": None, **self.echo, **extra,
        }

    def start(self) -> None:
        snapshot = self.response("in_progress", [], usage=None)
        self.emit("response.created", {"response": snapshot})
        self.emit("response.in_progress", {"response": snapshot})

    # ---- items ------------------------------------------------------------------------
    def _index(self) -> int:
        return len(self.output)

    def on_reasoning(self, text: str) -> None:
        if not text or self.visible or not self.flow.request.reasoning:
            return
        if self.reasoning is None:
            self.reasoning = {"id": new_id("rs_"), "type": "reasoning", "summary": [],
                              "status": "in_progress"}
            self.parts = []
            where = {"item_id": self.reasoning["id"], "output_index": self._index(),
                     "summary_index": 0}
            self.emit("response.output_item.added", {"output_index": self._index(),
                                                     "item": self.reasoning})
            self.emit("response.reasoning_summary_part.added",
                      {**where, "part": {"type": "summary_text", "text": ""}})
            self._set_delta_head("response.reasoning_summary_text.delta", where)
        self.parts.append(text)
        self._delta(text)

    def _close_reasoning(self) -> None:
        if self.reasoning is None:
            return
        text = "".join(self.parts)
        where = {"item_id": self.reasoning["id"], "output_index": self._index(), "summary_index": 0}
        part = {"type": "summary_text", "text": text}
        item = {**self.reasoning, "summary": [part], "status": "completed"}
        self.emit("response.reasoning_summary_text.done", {**where, "text": text})
        self.emit("response.reasoning_summary_part.done", {**where, "part": part})
        self.emit("response.output_item.done", {"output_index": self._index(), "item": item})
        self.output.append(item)
        self.reasoning = None

    def on_text(self, text: str) -> None:
        if not text:
            return
        self.visible = True
        self._close_reasoning()
        if self.message is None:
            self.message = {"id": new_id("msg_"), "type": "message", "role": "assistant",
                            "content": [], "status": "in_progress"}
            self.parts = []
            self.annotations = []
            where = {"item_id": self.message["id"], "output_index": self._index(),
                     "content_index": 0}
            self.emit("response.output_item.added", {"output_index": self._index(),
                                                     "item": self.message})
            self.emit("response.content_part.added",
                      {**where, "part": {"type": "output_text", "text": "", "annotations": []}})
            self._set_delta_head("response.output_text.delta", where)
        self.parts.append(text)
        self._delta(text)

    def on_citation(self, cite: Citation) -> None:
        """Offsets are into the answer text, which is this message's text (one message)."""
        if self.message is None:
            return
        ann = {"type": "url_citation", "url": cite.url, "title": cite.title,
               "start_index": cite.start, "end_index": cite.end}
        self.emit("response.output_text.annotation.added", {
            "item_id": self.message["id"], "output_index": self._index(), "content_index": 0,
            "annotation_index": len(self.annotations), "annotation": ann})
        self.annotations.append(ann)

    def _close_message(self) -> None:
        if self.message is None:
            return
        text = "".join(self.parts)
        where = {"item_id": self.message["id"], "output_index": self._index(), "content_index": 0}
        part = {"type": "output_text", "text": text, "annotations": list(self.annotations)}
        item = {**self.message, "content": [part], "status": "completed"}
        if self.sources.items:
            item["search_sources"] = list(self.sources.items)  # an extension of OpenAI's format
        self.emit("response.output_text.done", {**where, "text": text})
        self.emit("response.content_part.done", {**where, "part": part})
        self.emit("response.output_item.done", {"output_index": self._index(), "item": item})
        self.output.append(item)
        self.message = None

    def on_tool_call(self, call: ToolCall) -> None:
        self.visible = True
        self._close_reasoning()
        self._close_message()
        index = self._index()
        item = {"id": new_id("fc_"), "type": "function_call", "call_id": call.id,
                "name": call.name, "arguments": "", "status": "in_progress"}
        where = {"item_id": item["id"], "output_index": index}
        self.emit("response.output_item.added", {"output_index": index, "item": item})
        self.emit("response.function_call_arguments.delta", {**where, "delta": call.arguments})
        self.emit("response.function_call_arguments.done", {**where, "arguments": call.arguments})
        item = {**item, "arguments": call.arguments, "status": "completed"}
        self.emit("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)

    def close_items(self) -> None:
        self._close_reasoning()
        self._close_message()

    def feed(self, ev: object) -> None:
        cls = type(ev)
        if cls is TextDelta:
            self.on_text(ev.text)
        elif cls is ReasoningDelta:
            self.on_reasoning(ev.text)
        elif cls is ToolCall:
            self.on_tool_call(ev)
        elif cls is SearchSources:
            self.sources.add(ev.sources)
        elif cls is Citation:
            self.on_citation(ev)
        elif cls is Heartbeat:
            if self.stream:
                self.out.append(sse.PING)
        elif cls is Restart:
            self.reset()
        elif cls is End:
            self.close_items()

    # ---- endings ----------------------------------------------------------------------
    def completed(self, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        output = list(self.output) if output is None else output
        text = "".join(p["text"] for item in output if item["type"] == "message"
                       for p in item["content"])
        return self.response("completed", output, usage=usage_block(self.flow.usage),
                             output_text=text)

    def fail(self, err: ApiError) -> None:
        """`error`, then `response.failed` (the stream then ends with [DONE])."""
        self.emit("error", {"message": err.message, "code": err.code, "param": err.param,
                            **request_id_field()})
        failed = self.response("failed", usage=usage_block(self.flow.usage),
                               error={"code": err.code or err.type, "message": err.message})
        self.emit("response.failed", {"response": failed})


def _empty() -> ApiError:
    return ApiError(502, EMPTY_ANSWER, type="upstream_error", code="empty_response")


async def stream_response(pipeline: Any, flow: Flow, model: str,
                          echo: dict[str, Any]) -> AsyncIterator[bytes]:
    """The SSE body. Runs after `pipeline.open()` succeeded; always closes the pipeline."""
    builder = ResponseBuilder(flow, model, echo, stream=True)
    ended = False  # the end of the answer goes out with [DONE] in one write, once closed
    try:
        builder.start()
        yield sse.PING + builder.take()
        async for batch in pipeline.events(flow):
            for ev in batch:
                builder.feed(ev)
                if type(ev) is End:
                    ended = True
                    if builder.output:
                        builder.emit("response.completed", {"response": builder.completed()})
                    else:
                        builder.fail(_empty())  # never "completed" with nothing
            if builder.out and not ended:
                yield builder.take()
    except ApiError as err:
        builder.fail(err)
    except Exception:  # noqa: BLE001 - the client still gets a well-formed end of stream
        log.exception("stream %s failed", flow.id)
        builder.fail(ApiError(500, "Internal server error", type="server_error",
                              code="internal_error"))
    finally:
        await pipeline.close(flow)
    yield builder.take() + sse.DONE


async def complete_response(pipeline: Any, flow: Flow, model: str,
                            echo: dict[str, Any]) -> dict[str, Any]:
    """The non-stream body. Raises ApiError when the flow fails or produced nothing."""
    builder = ResponseBuilder(flow, model, echo, stream=False)
    await drain(pipeline, flow, builder.feed)
    builder.close_items()
    output = builder.output
    if any(item["type"] == "function_call" for item in output):
        output = [item for item in output if item["type"] != "message"]  # calls replace the message
    if not output:
        raise _empty()
    return builder.completed(output)
