"""No truncated answer passes as complete, over the REST chat and the mgw WebSocket.

The simulator stops an answer mid-way: the body (or the socket) ends cleanly before the end
markers (`ended_mid`), ends inside a frame (`truncated`), the connection drops (`cut_mid`), or
it goes silent (`stall`). The client must get an error, never half the text with
`finish_reason: "stop"`; before anything reached it, the request fails over instead."""
from __future__ import annotations

import json
import time

import openai
import pytest

from ops.simulator.content import answer_tokens
from tests.integration.sse_client import chunks, read_sse

HALF = "".join(answer_tokens(3))  # what the simulator sends before a mid-answer fault
WHOLE = "".join(answer_tokens(8))
PROMPT = "[[sim tokens=8 think=0]]"
#: the truncation code where the transport can tell a truncation from other failures
TRUNCATED = {"ended_mid": "upstream_truncated", "truncated": None, "cut_mid": None}


@pytest.fixture(params=["rest", "mgw"])
def chat_transport(request) -> str:
    return request.param


def stream_text(frames) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks(frames) if c["choices"])


def finish_reasons(frames) -> list:
    return [c["choices"][0].get("finish_reason") for c in chunks(frames)
            if c["choices"] and c["choices"][0].get("finish_reason")]


async def post(stack, path: str, body: dict):
    async with stack.http() as http:
        async with http.post(path, json=body) as resp:
            return resp.status, await read_sse(resp)


@pytest.mark.parametrize("fault", ["ended_mid", "truncated", "cut_mid"])
async def test_an_answer_cut_short_after_the_first_byte_ends_the_stream_with_an_error(
        stack, fault):
    # 502 may switch accounts, but not once the client has text
    await stack.start_gateway(GROK_RETRY_ON_CODES="429,401,502,503")
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject(fault, times=1)
    status, frames = await post(stack, "/v1/chat/completions", {
        "model": "grok-4.20-fast", "stream": True,
        "messages": [{"role": "user", "content": PROMPT}]})
    assert status == 200
    assert stream_text(frames) == HALF
    assert finish_reasons(frames) == []  # never "stop" (nor "length") for half an answer
    errors = [json.loads(p)["error"] for k, p in frames if k == "error"]
    assert len(errors) == 1 and errors[0]["status"] == 502
    assert errors[0]["type"] == "upstream_error"
    if TRUNCATED[fault]:
        assert errors[0]["code"] == TRUNCATED[fault]
    assert frames[-1] == ("data", "[DONE]")
    assert len(stack.chat_tokens()) == 1
    assert stack.gateway.pool.count_inflight() == 0


@pytest.mark.parametrize("fault", ["ended_mid", "truncated"])
async def test_a_truncated_non_stream_answer_is_a_502_never_a_200(stack, fault):
    await stack.start_gateway()  # 502 is not in the default retry.on_codes: no failover
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject(fault, times=1)
    with pytest.raises(openai.APIStatusError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": PROMPT}])
    assert info.value.status_code == 502
    assert info.value.body["type"] == "upstream_error"
    if TRUNCATED[fault]:
        assert info.value.body["code"] == TRUNCATED[fault]
    assert HALF not in json.dumps(info.value.body)
    assert len(stack.chat_tokens()) == 1


async def test_a_stall_mid_answer_of_a_non_stream_request_is_a_504(stack):
    await stack.start_gateway(GROK_CHAT_TIMEOUT="0.5")
    stack.add_account("tok-a", "basic")
    stack.sim.state.inject("stall", times=1, stall_ms=5000)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": PROMPT}])
    assert time.monotonic() - started < 3
    assert info.value.status_code == 504
    assert info.value.body["code"] == "stream_idle_timeout"
    assert stack.gateway.pool.count_inflight() == 0


@pytest.mark.parametrize(("stream", "fault", "options"), [
    (True, "ended_mid", {"after_tokens": 0}),  # before any text: nothing reached the client
    (False, "ended_mid", {}),  # a buffered request has shown nothing, whatever arrived
    (False, "truncated", {}),
    (False, "stall", {"stall_ms": 5000}),
])
async def test_before_the_client_saw_anything_a_cut_short_answer_fails_over(
        stack, stream, fault, options):
    await stack.start_gateway(GROK_RETRY_ON_CODES="429,401,502,503,504", GROK_CHAT_TIMEOUT="0.5")
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject(fault, times=1, **options)
    if stream:
        status, frames = await post(stack, "/v1/chat/completions", {
            "model": "grok-4.20-fast", "stream": True,
            "messages": [{"role": "user", "content": PROMPT}]})
        assert status == 200 and not [k for k, _ in frames if k == "error"]
        assert stream_text(frames) == WHOLE and finish_reasons(frames) == ["stop"]
    else:
        r = await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": PROMPT}])
        assert r.choices[0].message.content == WHOLE
        assert r.choices[0].finish_reason == "stop"
    first, second = stack.chat_tokens()
    assert first != second


async def test_the_other_dialects_end_a_truncated_stream_with_their_error_event(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.sim.state.inject("ended_mid", times=2)
    _, frames = await post(stack, "/v1/messages", {
        "model": "grok-4.20-fast", "max_tokens": 100, "stream": True,
        "messages": [{"role": "user", "content": PROMPT}]})
    kinds = [k for k, _ in frames]
    assert "message_stop" not in kinds and kinds[-1] == "error"
    assert json.loads(frames[-1][1])["error"]["code"] == "upstream_truncated"
    _, frames = await post(stack, "/v1/responses", {
        "model": "grok-4.20-fast", "stream": True, "input": PROMPT})
    kinds = [k for k, _ in frames]
    assert "response.completed" not in kinds and "response.failed" in kinds
    failed = json.loads(dict(frames)["response.failed"])["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_truncated"
    assert frames[-1] == ("data", "[DONE]")
