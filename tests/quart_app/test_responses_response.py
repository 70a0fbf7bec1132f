"""The Responses renderer on scripted event batches: no network, exact event sequences."""
import json

import pytest

from addons.errors import ApiError
from addons.events import (
    End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, ToolCall,
)
from addons.flow import new_id
from addons.testflow import tflow
from quart_app.dialects.responses_response import complete_response, stream_response


class ScriptedPipeline:
    """`events()` yields the scripted batches; an exception in the script is raised there."""

    def __init__(self, *batches):
        self.batches = batches
        self.closed = False

    async def events(self, flow):
        # the real pipeline counts usage in flush, before its End
        flow.usage.prompt_tokens, flow.usage.completion_tokens = 10, 5
        for batch in self.batches:
            if isinstance(batch, Exception):
                raise batch
            yield batch

    async def close(self, flow):
        self.closed = True


def new_flow(stream=True, reasoning=True):
    flow = tflow(model="grok-4.20-auto", stream=stream, reasoning=reasoning,
                 dialect="openai.responses")
    flow.id = new_id("resp_")
    return flow


def parse(raw: bytes) -> list[tuple[str, object]]:
    """(event name | "comment" | "data", payload) per SSE frame."""
    frames = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            frames.append(("comment", block[1:].strip()))
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = lines["data"]
        frames.append((lines.get("event", "data"), data if data == "[DONE]" else json.loads(data)))
    return frames


async def stream(*batches, reasoning=True):
    pipeline = ScriptedPipeline(*batches)
    flow = new_flow(reasoning=reasoning)
    raw = b"".join([chunk async for chunk in stream_response(pipeline, flow, "grok-4.20-auto", {})])
    assert pipeline.closed
    frames = parse(raw)
    assert frames[0] == ("comment", "ping") and frames[-1] == ("data", "[DONE]")
    events = [(name, data) for name, data in frames if name not in ("comment", "data")]
    for name, data in events:
        assert data["type"] == name
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    return flow, frames, events


REASONING_SEQ = [
    "response.output_item.added", "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
    "response.output_item.done"]
MESSAGE_SEQ = [
    "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
    "response.content_part.done", "response.output_item.done"]
CALL_SEQ = [
    "response.output_item.added", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done"]


async def test_reasoning_then_text_exact_sequence():
    flow, frames, events = await stream(
        [ReasoningDelta("Plan. "), ReasoningDelta("Short.")], [Heartbeat()],
        [TextDelta("Hi"), TextDelta(" there"), ReasoningDelta("late, hidden")], [End()])
    names = [n for n, _ in events]
    assert names == ["response.created", "response.in_progress", *REASONING_SEQ, *MESSAGE_SEQ,
                     "response.completed"]
    assert frames.count(("comment", "ping")) == 2
    created = events[0][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["id"] == flow.id
    done = dict(events)  # last event of each name wins
    rs = events[2][1]["item"]
    assert rs["id"].startswith("rs_") and rs["summary"] == [] and events[2][1]["output_index"] == 0
    assert events[6][1]["text"] == "Plan. Short."
    msg_added = events[9][1]
    assert msg_added["output_index"] == 1 and msg_added["item"]["id"].startswith("msg_")
    assert events[11][1]["delta"] == "Hi" and events[11][1]["item_id"] == msg_added["item"]["id"]
    assert done["response.output_text.done"]["text"] == "Hi there"
    final = done["response.completed"]["response"]
    assert final["status"] == "completed" and final["output_text"] == "Hi there"
    assert [i["id"] for i in final["output"]] == [rs["id"], msg_added["item"]["id"]]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Plan. Short."}]
    assert final["output"][1]["content"] == [
        {"type": "output_text", "text": "Hi there", "annotations": []}]
    assert final["usage"] == {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 15}


async def test_reasoning_off_hides_reasoning():
    _, _, events = await stream([ReasoningDelta("x")], [TextDelta("a"), TextDelta("b")], [End()],
                                reasoning=False)
    assert [n for n, _ in events] == ["response.created", "response.in_progress", *MESSAGE_SEQ,
                                      "response.completed"]
    assert events[2][1]["output_index"] == 0


async def test_tool_call_becomes_function_call_item():
    call = ToolCall(id="call_1767225604abc123", name="get_weather", arguments='{"city":"Paris"}')
    _, _, events = await stream([ReasoningDelta("r1"), ReasoningDelta("r2")], [call],
                                [End("tool_calls")])
    names = [n for n, _ in events]
    assert names == ["response.created", "response.in_progress", *REASONING_SEQ, *CALL_SEQ,
                     "response.completed"]
    added = events[9][1]
    assert added["output_index"] == 1
    item = added["item"]
    assert item["id"].startswith("fc_") and item["call_id"] == call.id
    assert (item["name"], item["arguments"], item["status"]) == ("get_weather", "", "in_progress")
    assert events[10][1] == {"type": "response.function_call_arguments.delta",
                             "item_id": item["id"], "output_index": 1,
                             "delta": call.arguments, "sequence_number": 10}
    assert events[11][1]["arguments"] == call.arguments
    assert events[12][1]["item"] == {**item, "arguments": call.arguments, "status": "completed"}
    final = events[-1][1]["response"]
    assert final["output"][1] == events[12][1]["item"] and final["output_text"] == ""


async def test_text_before_a_call_is_closed_first_and_kept_in_the_stream():
    call = ToolCall(id="call_x", name="f", arguments="{}")
    _, _, events = await stream([TextDelta("Let me check."), call], [End("tool_calls")])
    names = [n for n, _ in events]
    one_delta = MESSAGE_SEQ[:3] + MESSAGE_SEQ[4:]
    assert names[2:-1] == one_delta + CALL_SEQ
    assert [i["type"] for i in events[-1][1]["response"]["output"]] == ["message", "function_call"]


async def test_error_after_first_byte_is_error_then_failed():
    err = ApiError(502, "Upstream error (status 502)", type="upstream_error", code="upstream_error")
    _, frames, events = await stream([TextDelta("partial")], err)
    names = [n for n, _ in events]
    assert names == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "error",
                     "response.failed"]
    assert events[5][1] == {"type": "error", "message": "Upstream error (status 502)",
                            "code": "upstream_error", "param": None, "sequence_number": 5}
    failed = events[6][1]["response"]
    assert failed["status"] == "failed" and failed["model"] == "grok-4.20-auto"
    assert failed["error"] == {"code": "upstream_error", "message": "Upstream error (status 502)"}


async def test_unexpected_exception_is_an_internal_error_event():
    _, _, events = await stream([TextDelta("a")], RuntimeError("boom"))
    assert events[-2][1]["code"] == "internal_error" and events[-1][0] == "response.failed"


async def test_no_output_at_all_fails_instead_of_completing():
    _, _, events = await stream([SearchSources([{"url": "u", "title": "t"}])], [End()])
    assert [n for n, _ in events] == ["response.created", "response.in_progress", "error",
                                      "response.failed"]
    assert events[2][1]["code"] == "empty_response"


async def test_non_stream_object():
    flow = new_flow(stream=False)
    pipeline = ScriptedPipeline(
        [TextDelta("lost")], [Restart()],
        [ReasoningDelta("think")], [SearchSources([{"url": "https://a", "title": "A"}])],
        [TextDelta("Hello"), TextDelta(" world")], [End()])
    body = await complete_response(pipeline, flow, "grok-4.20-auto", {"instructions": None})
    assert pipeline.closed
    assert body["id"] == flow.id and body["object"] == "response" and body["status"] == "completed"
    rs, msg = body["output"]
    assert rs["type"] == "reasoning" and rs["summary"][0]["text"] == "think"
    assert msg["content"][0]["text"] == "Hello world" and body["output_text"] == "Hello world"
    assert msg["search_sources"] == [{"url": "https://a", "title": "A"}]
    assert body["usage"]["total_tokens"] == 15 and "instructions" in body


async def test_non_stream_tool_calls_drop_the_message_item():
    flow = new_flow(stream=False, reasoning=False)
    pipeline = ScriptedPipeline(
        [ReasoningDelta("hidden"), TextDelta("Sure.")],
        [ToolCall("call_a", "f", '{"a":1}', 0), ToolCall("call_b", "g", "{}", 1)],
        [End("tool_calls")])
    body = await complete_response(pipeline, flow, "m", {})
    assert [(i["type"], i["call_id"], i["status"]) for i in body["output"]] == [
        ("function_call", "call_a", "completed"), ("function_call", "call_b", "completed")]
    assert body["output"][0]["arguments"] == '{"a":1}' and body["output"][0]["id"].startswith("fc_")


async def test_non_stream_errors_propagate_and_empty_is_502():
    pipeline = ScriptedPipeline(ApiError(429, "limited"))
    with pytest.raises(ApiError) as info:
        await complete_response(pipeline, new_flow(stream=False), "m", {})
    assert info.value.status == 429 and pipeline.closed
    with pytest.raises(ApiError) as info:
        await complete_response(ScriptedPipeline([End()]), new_flow(stream=False), "m", {})
    assert info.value.status == 502 and info.value.code == "empty_response"
