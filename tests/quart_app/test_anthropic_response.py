"""The Anthropic renderer on scripted event batches: the exact event order, no network."""
from __future__ import annotations

import json

import pytest

from addons.errors import ApiError
from addons.events import End, Heartbeat, ReasoningDelta, Restart, TextDelta, ToolCall
from addons.flow import Flow, Usage
from addons.testflow import tflow
from quart_app.dialects.anthropic_response import complete_message, stream_messages


class ScriptedPipeline:
    def __init__(self, batches, fail: ApiError | None = None):
        self.batches = batches
        self.fail = fail
        self.closed = False

    async def events(self, flow):
        for batch in self.batches:
            yield batch
        if self.fail is not None:
            raise self.fail

    async def close(self, flow):
        self.closed = True


def make_flow(reasoning=True) -> Flow:
    flow = tflow(model="grok-4.20-auto", reasoning=reasoning)
    flow.id = "msg_1"
    flow.prompt = "[user]: hi there"
    flow.usage = Usage(prompt_tokens=7, completion_tokens=9, reasoning_tokens=3)
    return flow


async def render(batches, reasoning=True, fail=None):
    pipe = ScriptedPipeline(batches, fail)
    raw = b"".join([c async for c in stream_messages(pipe, make_flow(reasoning), "grok-4.20-auto")])
    assert pipe.closed
    frames = []
    for block in raw.decode().split("\n\n")[:-1]:
        event_line, data_line = block.split("\n")
        name = event_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        frames.append(data)
    return frames


def shape(frames):
    out = []
    for f in frames:
        kind = f["type"]
        if kind == "content_block_start":
            out.append(f"start {f['index']} {f['content_block']['type']}")
        elif kind == "content_block_delta":
            out.append(f"delta {f['index']} {f['delta']['type']}")
        elif kind == "content_block_stop":
            out.append(f"stop {f['index']}")
        else:
            out.append(kind)
    return out


async def test_thinking_then_text_exact_order():
    frames = await render([[ReasoningDelta("a"), ReasoningDelta("b")], [TextDelta("Hi"), TextDelta("!")],
                           [End("stop")]])
    assert shape(frames) == [
        "message_start", "ping",
        "start 0 thinking", "delta 0 thinking_delta", "delta 0 thinking_delta",
        "delta 0 signature_delta", "stop 0",
        "start 1 text", "delta 1 text_delta", "delta 1 text_delta", "stop 1",
        "message_delta", "message_stop"]
    start = frames[0]["message"]
    assert start["id"] == "msg_1" and start["model"] == "grok-4.20-auto"
    assert start["usage"]["input_tokens"] > 0 and start["usage"]["output_tokens"] == 0
    assert start["content"] == [] and start["stop_reason"] is None
    assert frames[2]["content_block"] == {"type": "thinking", "thinking": ""}
    assert frames[3]["delta"]["thinking"] == "a"
    assert frames[7]["content_block"] == {"type": "text", "text": ""}
    assert frames[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert frames[-2]["usage"] == {"output_tokens": 9}


async def test_reasoning_off_drops_thinking_and_heartbeat_pings():
    frames = await render([[ReasoningDelta("a")], [Heartbeat()], [TextDelta("Hi")], [End()]],
                          reasoning=False)
    assert shape(frames) == ["message_start", "ping", "ping", "start 0 text", "delta 0 text_delta",
                             "stop 0", "message_delta", "message_stop"]


async def test_text_then_tool_call_then_discarded_text():
    call = ToolCall(id="call_1767225613c0ffee", name="read_file", arguments='{"path":"README.md"}')
    frames = await render([[TextDelta("Let me read it.")], [call, TextDelta("ignored")],
                           [End("tool_calls")]], reasoning=False)
    assert shape(frames) == [
        "message_start", "ping", "start 0 text", "delta 0 text_delta", "stop 0",
        "start 1 tool_use", "delta 1 input_json_delta", "stop 1", "message_delta", "message_stop"]
    assert frames[5]["content_block"] == {"type": "tool_use", "id": "toolu_1767225613c0ffee",
                                          "name": "read_file", "input": {}}
    assert json.loads(frames[6]["delta"]["partial_json"]) == {"path": "README.md"}
    assert frames[-2]["delta"]["stop_reason"] == "tool_use"


async def test_thinking_then_two_tool_calls():
    calls = [ToolCall("call_a", "f", '{"x":1}', 0), ToolCall("call_b", "g", "not json", 1)]
    frames = await render([[ReasoningDelta("r")], calls, [End("tool_calls")]])
    assert shape(frames)[2:-2] == [
        "start 0 thinking", "delta 0 thinking_delta", "delta 0 signature_delta", "stop 0",
        "start 1 tool_use", "delta 1 input_json_delta", "stop 1",
        "start 2 tool_use", "delta 2 input_json_delta", "stop 2"]
    assert frames[-4]["delta"]["partial_json"] == "{}"


async def test_error_after_content_is_an_error_event():
    err = ApiError(502, "Upstream error", type="upstream_error", code="upstream_error")
    frames = await render([[TextDelta("Hi")]], fail=err)
    assert shape(frames) == ["message_start", "ping", "start 0 text", "delta 0 text_delta", "error"]
    assert frames[-1]["error"]["type"] == "upstream_error"
    assert frames[-1]["error"]["message"] == "Upstream error"


async def test_restart_before_content_starts_clean():
    frames = await render([[Restart()], [TextDelta("x")], [End()]], reasoning=False)
    assert shape(frames)[2] == "start 0 text"


@pytest.mark.parametrize("reasoning", [True, False])
async def test_non_stream_message(reasoning):
    pipe = ScriptedPipeline([[ReasoningDelta("old")], [Restart()], [ReasoningDelta("think")],
                             [TextDelta("Hel"), TextDelta("lo")], [End("stop")]])
    msg = await complete_message(pipe, make_flow(reasoning), "grok-4.20-auto")
    assert pipe.closed
    blocks = [{"type": "text", "text": "Hello"}]
    if reasoning:
        blocks.insert(0, {"type": "thinking", "thinking": "think", "signature": "g2a-sig-0"})
    assert msg == {"id": "msg_1", "type": "message", "role": "assistant", "model": "grok-4.20-auto",
                   "content": blocks, "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 7, "output_tokens": 9}}


async def test_non_stream_tool_use():
    pipe = ScriptedPipeline([[ToolCall("call_z", "f", '{"a":1}')], [TextDelta("late")],
                             [End("tool_calls")]])
    msg = await complete_message(pipe, make_flow(False), "m")
    assert msg["content"] == [{"type": "tool_use", "id": "toolu_z", "name": "f", "input": {"a": 1}}]
    assert msg["stop_reason"] == "tool_use"
