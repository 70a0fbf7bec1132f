"""Failover, account state changes and upstream failures, seen from the client."""
from __future__ import annotations

import asyncio
import time

import openai
import pytest

from ops.simulator.content import answer_tokens
from state.usage_query import usage_series
from tests.integration.sse_client import chunks, read_sse

def chat_tokens(stack) -> list[str]:
    """The account (sso cookie) of every chat attempt the simulator received, in order."""
    return stack.chat_tokens()


def stream_text(frames) -> str:
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks(frames) if c["choices"])


async def post_stream(stack, content: str, model: str = "grok-4.20-fast"):
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
                "model": model, "messages": [{"role": "user", "content": content}],
                "stream": True}) as resp:
            return resp.status, await read_sse(resp)


@pytest.mark.parametrize("fault", ["429", "inband_first"])
async def test_rate_limited_account_fails_over_without_duplicated_text(stack, fault):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject(fault, times=1)
    status, frames = await post_stream(stack, "[[sim tokens=6]]")
    assert status == 200
    assert stream_text(frames) == "".join(answer_tokens(6))
    first, second = chat_tokens(stack)
    assert first != second
    pool = stack.gateway.pool
    # only that mode of that account cools; the probe that follows found quota left (the
    # 429 was injected), so the short first cooldown stands
    assert pool.get(first).status == "active" and pool.mode_cooling(first, "fast")
    for _ in range(100):
        if stack.sim.state.requests_to("/rest/rate-limits"):
            break
        await asyncio.sleep(0.02)
    assert [r.token for r in stack.sim.state.requests_to("/rest/rate-limits")][:1] == [first]
    await asyncio.sleep(0.1)
    assert 55_000 < pool.get(first).mode_cooldown("fast")["until"] - time.time() * 1000 < 61_000
    assert pool.get(second).status == "active" and not pool.mode_cooling(second, "fast")
    # the cooling mode stays out of rotation
    await stack.openai().chat.completions.create(
        model="grok-4.20-fast", messages=[{"role": "user", "content": "again"}])
    assert chat_tokens(stack)[-1] == second


async def test_expired_account_leaves_rotation_and_stays_out_after_restart(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("401", times=1)
    r = await stack.openai().chat.completions.create(
        model="grok-4.20-fast", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    dead, alive = chat_tokens(stack)
    assert stack.gateway.pool.get(dead).status == "expired"
    await stack.restart_gateway()
    assert stack.gateway.pool.get(dead).status == "expired"
    assert stack.gateway.pool.get(alive).status == "active"
    for _ in range(3):
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": "hi"}])
    assert chat_tokens(stack)[2:] == [alive] * 3


async def test_retries_are_bounded_by_max_retries(stack):
    await stack.start_gateway(GROK_RETRY_MAX_RETRIES="1")
    for name in ("tok-a", "tok-b", "tok-c"):
        stack.add_account(name, "basic")
    stack.sim.state.inject("503", times=3)
    with pytest.raises(openai.APIStatusError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert info.value.body["type"] == "upstream_error"
    assert len(chat_tokens(stack)) == 2  # the first try and one retry, on two accounts


async def test_failure_after_first_byte_is_an_error_event_then_done(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("inband_mid", times=1)
    status, frames = await post_stream(stack, "[[sim tokens=8]]")
    assert status == 200
    assert frames[-1] == ("data", "[DONE]")
    errors = [p for k, p in frames if k == "error"]
    assert len(errors) == 1 and '"upstream_error"' in errors[0]
    assert stream_text(frames) == "".join(answer_tokens(3))  # no retry once text was sent
    assert len(chat_tokens(stack)) == 1


async def test_non_stream_mid_stream_cut_fails_over(stack):
    await stack.start_gateway(GROK_RETRY_ON_CODES="429,401,502,503")
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("cut_mid", times=1)
    r = await stack.openai().chat.completions.create(
        model="grok-4.20-fast", messages=[{"role": "user", "content": "[[sim tokens=8]]"}])
    assert r.choices[0].message.content == "".join(answer_tokens(8))
    assert len(set(chat_tokens(stack))) == 2


async def test_idle_timeout_becomes_an_in_stream_504(stack):
    await stack.start_gateway(GROK_CHAT_TIMEOUT="0.5")
    stack.add_account("tok-a", "basic")
    stack.sim.state.inject("stall", times=1, stall_ms=5000)
    started = time.monotonic()
    status, frames = await post_stream(stack, "[[sim tokens=8]]")
    assert time.monotonic() - started < 3
    errors = [p for k, p in frames if k == "error"]
    assert status == 200 and len(errors) == 1 and "stream_idle_timeout" in errors[0]
    assert frames[-1] == ("data", "[DONE]")
    assert stack.gateway.pool.count_inflight() == 0


async def test_client_disconnect_frees_account_and_cancels_upstream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    pool, sim = stack.gateway.pool, stack.sim.state
    async with stack.http() as http:
        resp = await http.post("/v1/chat/completions", json={
            "model": "grok-4.20-fast", "stream": True,
            "messages": [{"role": "user", "content": "[[sim tokens=400 delay_ms=50]]"}]})
        got = b""
        while b'"content":"w2 "' not in got:
            got += await resp.content.readany()
        assert pool.count_inflight() == 1 and sim.active_streams == 1
        resp.close()  # the client goes away mid-answer
        started = time.monotonic()
        while (pool.count_inflight() or sim.active_streams) and time.monotonic() - started < 1.0:
            await asyncio.sleep(0.02)
    assert pool.count_inflight() == 0
    assert sim.active_streams == 0 and sim.cancelled_streams == 1


async def test_pool_counters_are_written_behind_and_survive_restart(stack):
    # a probe after every call, so the window is exact when the gateway restarts
    await stack.start_gateway(GROK_ACCOUNT__REFRESH__AFTER_CALL_MIN_INTERVAL_SEC="0")
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    for _ in range(3):
        await client.chat.completions.create(model="grok-4.20-fast",
                                             messages=[{"role": "user", "content": "hi"}])
    stack.sim.state.inject("500", times=1)
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="grok-4.20-fast",
                                             messages=[{"role": "user", "content": "hi"}])
    await stack.restart_gateway()
    acc = stack.gateway.pool.get("tok-a")
    assert acc.usage_use_count == 3 and acc.usage_fail_count == 1
    assert acc.window("fast").remaining == acc.window("fast").total - 3
    accounts = stack.gateway.services.accounts
    now = int(time.time())
    usage = await accounts.thread.run(usage_series, now - 3600, now, "model", None)
    assert [(u["group"], u["requests"], u["failures"]) for u in usage["series"]] == [
        ("grok-4.20-fast", 4, 1)]
    assert usage["totals"]["prompt_tokens"] > 0 and usage["totals"]["completion_tokens"] > 0


@pytest.mark.parametrize("stream", [True, False])
async def test_empty_answer_fails_over_to_another_account(stack, stream):
    """A 200 with no text, tool call or media switches account, even though 502 is not in
    retry.on_codes."""
    await stack.start_gateway(GROK_RETRY_ON_CODES="429")
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("empty", times=1)
    if stream:
        status, frames = await post_stream(stack, "[[sim tokens=5]]")
        assert status == 200 and stream_text(frames) == "".join(answer_tokens(5))
    else:
        r = await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": "[[sim tokens=5]]"}])
        assert r.choices[0].message.content == "".join(answer_tokens(5))
    first, second = chat_tokens(stack)
    assert first != second
    assert stack.gateway.pool.get(first).last_fail_reason == "empty response"


async def test_empty_answers_on_every_try_are_a_502_empty_response(stack):
    await stack.start_gateway(GROK_RETRY_MAX_RETRIES="1")
    for name in ("tok-a", "tok-b", "tok-c"):
        stack.add_account(name, "basic")
    stack.sim.state.inject("empty", times=3)
    with pytest.raises(openai.APIStatusError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert info.value.body["code"] == "empty_response"
    assert len(chat_tokens(stack)) == 2
