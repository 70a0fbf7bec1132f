"""Quota refresh over real sockets: the gateway probes the simulator's `/rest/rate-limits`."""
from __future__ import annotations

import asyncio

import openai
import pytest

import state.pool
from ops.simulator.state import RATE_LIMITS_PATH
from state.account import SOURCE_REAL, now_ms

SUPER_TOKEN = "tok-super"


async def eventually(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def chat(stack, model: str = "grok-4.20-fast"):
    return await stack.openai().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}])


def sim_window(stack, token: str, mode: str):
    return stack.sim.state.window(stack.sim.state.tokens[token], mode)


async def test_quota_after_a_call_reflects_the_simulator(stack):
    await stack.start_gateway(GROK_ACCOUNT__REFRESH__AFTER_CALL_MIN_INTERVAL_SEC="0")
    stack.add_account("tok-a", "super")
    stack.gateway.pool.get("tok-a").last_sync_at = now_ms()  # not a fresh import
    stack.sim.state.set_quota("tok-a", "fast", 77, total=140)
    for _ in range(2):
        await chat(stack)
    def fast():  # a sync replaces the window object
        return stack.gateway.pool.get("tok-a").quota["fast"]

    await eventually(lambda: fast().source == SOURCE_REAL and fast().remaining == 75)
    assert sim_window(stack, "tok-a", "fast").remaining == 75 and fast().total == 140
    probes = stack.sim.state.requests_to(RATE_LIMITS_PATH)
    assert probes and {r.json["modelName"] for r in probes} == {"fast"}


async def test_an_account_imported_as_basic_moves_to_its_real_tier(stack):
    await stack.start_gateway()
    stack.sim.state.add_token(SUPER_TOKEN, tier="super")
    stack.gateway.pool.add(SUPER_TOKEN, pool="basic")
    refresher = stack.gateway.services.refresher
    [result] = await refresher.refresh_many([SUPER_TOKEN])
    acc = stack.gateway.pool.get(SUPER_TOKEN)
    assert result.ok and result.moved == ("basic", "super") and acc.pool == "super"
    assert acc.quota["expert"].source == SOURCE_REAL and acc.quota["expert"].total == 50
    # the move is persisted: a restarted gateway still has it in pool super
    await stack.restart_gateway()
    assert stack.gateway.pool.get(SUPER_TOKEN).pool == "super"
    r = await chat(stack, "grok-4.20-fast")
    assert r.choices[0].message.content


async def test_first_call_of_a_fresh_import_settles_its_tier(stack):
    await stack.start_gateway()
    stack.sim.state.add_token("tok-h", tier="heavy")
    stack.gateway.pool.add("tok-h", pool="basic")
    await chat(stack)
    await eventually(lambda: stack.gateway.pool.get("tok-h").pool == "heavy")


async def test_chat_429_cools_the_mode_until_the_window_resets(stack, monkeypatch):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stack.sim.state.set_quota("tok-a", "fast", 0)
    with pytest.raises(openai.RateLimitError):
        await chat(stack)
    acc = stack.gateway.pool.get("tok-a")
    # the probe right after the 429 found the mode exhausted, with a wait: until the reset
    await eventually(lambda: (acc.mode_cooldown("fast") or {}).get("confirmed"))
    until = acc.mode_cooldown("fast")["until"]
    assert abs(until - (now_ms() + 7200 * 1000)) < 5000
    assert acc.status == "active" and acc.quota["fast"].remaining == 0
    r = await chat(stack, "grok-4.20-expert")  # the account's other modes still serve
    assert r.choices[0].message.content and stack.chat_tokens()[-1] == "tok-a"
    # grok.com's window resets; a refresh sees quota again, but the chat 429's cooldown holds
    stack.sim.state.advance_time(7300)
    refresher = stack.gateway.services.refresher
    [result] = await refresher.refresh_many(["tok-a"])
    assert result.ok and result.refreshed["fast"] == (140, 140)
    assert stack.gateway.pool.mode_cooling("tok-a", "fast")
    with pytest.raises(openai.RateLimitError):
        await chat(stack)
    # on the gateway's clock too the cooldown is over: the mode serves again
    real = state.pool.now_ms
    monkeypatch.setattr(state.pool, "now_ms", lambda: real() + 7300 * 1000)
    r = await chat(stack)
    assert r.choices[0].message.content and acc.status == "active"
    assert stack.chat_tokens()[-1] == "tok-a"
    assert acc.mode_cooldown("fast") is None  # the success forgave its strikes


async def test_invalid_marker_on_the_rate_limits_call_expires_the_account(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stack.add_account("tok-b", "super")
    stack.sim.state.inject("403_blocked", token="tok-a", path=RATE_LIMITS_PATH)
    results = await stack.gateway.services.refresher.refresh_many(["tok-a", "tok-b"])
    assert [r.expired for r in results] == ["blocked-user", None]
    assert stack.gateway.pool.get("tok-a").status == "expired"
    assert stack.gateway.pool.get("tok-b").status == "active"
    for _ in range(2):
        await chat(stack)
    assert stack.chat_tokens() == ["tok-b", "tok-b"]
    await stack.restart_gateway()  # persisted at once
    assert stack.gateway.pool.get("tok-a").status == "expired"


async def test_only_one_gateway_per_data_dir_runs_the_scheduler(stack):
    first = await stack.start_gateway()
    from tests.integration.conftest import Gateway

    second = await Gateway(stack.data_dir, dict(stack.env)).start()
    try:
        assert first.services.refresher.is_leader
        assert not second.services.refresher.is_leader
    finally:
        await second.stop()
