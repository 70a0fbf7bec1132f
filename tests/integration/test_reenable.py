"""An account an operator enables after a 429 serves the very next request (real sockets:
the simulator as grok.com, the gateway on Hypercorn, the admin API and the OpenAI SDK)."""
from __future__ import annotations

import openai
import pytest

from ops.simulator.state import RATE_LIMITS_PATH

KEY = "adm-key-reenable"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjoicmVlbmFibGUifQ.sig-0123456789abcdef"


async def ask(stack) -> str:
    reply = await stack.openai().chat.completions.create(
        model="grok-4.20-fast", messages=[{"role": "user", "content": "hello"}])
    return reply.choices[0].message.content


async def test_enabled_after_a_429_the_account_answers_the_next_request(stack):
    await stack.start_gateway(GROK_APP_APP_KEY=KEY, GROK_RETRY_MAX_RETRIES="0")
    stack.add_account(TOKEN, "basic")
    # grok.com's quota endpoint is down: no probe can put the numbers right behind our back
    stack.sim.state.inject("500", path=RATE_LIMITS_PATH, times=10_000)
    stack.sim.state.inject("429", times=1)
    with pytest.raises(openai.APIStatusError):
        await ask(stack)  # the only account is rate limited: its fast mode cools
    assert stack.gateway.pool.mode_cooling(TOKEN, "fast")
    with pytest.raises(openai.APIStatusError):
        await ask(stack)  # and stays out of rotation
    async with stack.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.post("/admin/api/tokens/disabled",
                             json={"token": TOKEN, "disabled": False}) as resp:
            assert resp.status == 200
    assert await ask(stack)
    assert stack.chat_tokens()[-1] == TOKEN
