"""The upstream circuit breaker over real sockets: the simulator fails every chat for a while
(a grok.com outage, then a throttle of the gateway's egress), clients keep asking, then the
faults stop. Short breaker intervals stand in for the minutes of a real outage."""
from __future__ import annotations

import asyncio
import time
from collections import Counter

from ops.simulator.state import CHAT_PATH

TOKENS = [f"tok-{name}-breaker" for name in ("a", "b", "c", "d", "e")]
BREAKER = {
    "GROK_BREAKER_OPEN_SEC": "0.3",
    "GROK_BREAKER_MAX_OPEN_SEC": "1.2",
    "GROK_BREAKER_MIN_FAILURES": "4",
    "GROK_BREAKER_MIN_ACCOUNTS": "3",
    "GROK_BREAKER_WINDOW_SEC": "10",
    "GROK_RETRY_ON_CODES": "429,401,502,503",
}
CHAT = {"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "hi"}]}


async def ask(http) -> tuple[int, str | None, dict]:
    async with http.post("/v1/chat/completions", json=CHAT) as resp:
        return resp.status, resp.headers.get("Retry-After"), await resp.json()


async def health(stack) -> dict:
    async with stack.http() as http:
        async with http.get("/health") as resp:
            return (await resp.json())["breaker"]


async def load(stack, seconds: float, clients: int = 4) -> list[tuple[int, str | None, dict]]:
    """`clients` clients asking one after another for `seconds`."""
    answers: list[tuple[int, str | None, dict]] = []
    end = time.monotonic() + seconds

    async def client() -> None:
        async with stack.http() as http:
            while time.monotonic() < end:
                answers.append(await ask(http))
                await asyncio.sleep(0.01)

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


async def test_after_an_outage_every_account_serves_again_within_the_interval(stack):
    await stack.start_gateway(**BREAKER)
    for token in TOKENS:
        stack.add_account(token, "basic")
    sim = stack.sim.state
    sim.inject("503", times=100_000)  # grok.com answers every chat with a 503

    answers = await load(stack, 2.0)
    sent = len(sim.requests_to(CHAT_PATH))
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {502, 503} and statuses[503] > 0, statuses
    refused = [(after, body) for status, after, body in answers if status == 503]
    # while open, every refusal says when to come back, in grok.com's error class
    assert all(after is not None and int(after) >= 1 for after, _ in refused)
    assert all(body["error"]["code"] == "upstream_unavailable" for _, body in refused)
    assert all("<" not in body["error"]["message"] for _, body in refused)
    # the breaker, not the accounts, stopped the traffic: most requests never reached grok.com
    assert sent < len(answers) / 2, (sent, len(answers))
    state = await health(stack)
    assert state["state"] in ("open", "half_open") and state["reason"] == "unavailable"
    assert state["status"] == 503 and state["trips"] >= 2  # failed probes reopened it
    interval = state["open_interval_sec"]
    assert 0.3 < interval <= 1.2  # it grew, up to the maximum
    pool = stack.gateway.pool
    for token in TOKENS:  # 5xx never took an account out
        assert pool.get(token).status == "active" and not pool.mode_cooling(token, "fast")

    sim.faults.clear()  # grok.com is back
    cleared = time.monotonic()
    first_success = None
    async with stack.http() as http:
        while time.monotonic() - cleared < interval + 3:
            status, _, _ = await ask(http)
            if status == 200 and first_success is None:
                first_success = time.monotonic() - cleared
            served = {r.token for r in sim.requests_to(CHAT_PATH)[sent:]}
            if first_success is not None and served >= set(TOKENS):
                break
            await asyncio.sleep(0.02)
    assert first_success is not None and first_success <= interval + 0.5, first_success
    assert served == set(TOKENS)  # every healthy account serves again
    assert (await health(stack))["state"] == "closed"


async def test_a_throttle_of_the_egress_answers_429_and_cools_no_account(stack):
    await stack.start_gateway(**BREAKER)
    for token in TOKENS:
        stack.add_account(token, "basic")
    sim = stack.sim.state
    sim.inject("429", times=100_000)  # 429 on every account at once: the egress is throttled

    answers = await load(stack, 1.0, clients=2)
    throttled = [(after, body) for status, after, body in answers
                 if status == 429 and body["error"]["code"] == "upstream_throttled"]
    assert throttled and all(after is not None for after, _ in throttled)
    state = await health(stack)
    assert state["reason"] == "throttled" and state["status"] == 429
    await asyncio.sleep(0.2)  # the probes that follow each 429 have answered
    pool = stack.gateway.pool
    assert not any(pool.mode_cooling(token, "fast") for token in TOKENS)

    sim.faults.clear()
    await asyncio.sleep(state["open_interval_sec"])
    async with stack.http() as http:
        status, _, body = await ask(http)
    assert status == 200 and body["choices"][0]["message"]["content"]
    assert (await health(stack))["state"] == "closed"
