"""`/healthz` (the process is alive) and `/readyz` (the database answers, the pool is loaded,
an account is usable; 503 with the reason otherwise), without credentials."""
from __future__ import annotations

import asyncio

from quart_app import health


async def get(stack, path: str) -> tuple[int, dict]:
    async with stack.http() as http:
        async with http.get(path) as resp:
            return resp.status, await resp.json()


async def test_ready_only_with_a_usable_account(stack):
    await stack.start_gateway(GROK_APP_API_KEY="sk-health-key-0123456789",
                              GROK_APP_APP_KEY="health-admin-secret")
    assert await get(stack, "/healthz") == (200, {"ok": True})
    status, body = await get(stack, "/readyz")
    assert status == 503 and body["ok"] is False and "no usable account" in body["reason"]
    stack.add_account("sso-health-a", "basic")
    assert await get(stack, "/readyz") == (200, {"ok": True})
    stack.gateway.pool.disable("sso-health-a")
    status, body = await get(stack, "/readyz")
    assert status == 503 and "no usable account" in body["reason"]
    assert (await get(stack, "/healthz"))[0] == 200  # alive all the same


async def test_not_ready_while_the_database_does_not_answer(stack, monkeypatch):
    await stack.start_gateway()
    stack.add_account("sso-health-b", "basic")
    monkeypatch.setattr(health, "DB_TIMEOUT_SEC", 0.2)
    thread = stack.gateway.services.accounts.thread
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def blocked() -> None:  # the database thread is stuck in a long call
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()

    stuck = asyncio.create_task(thread.run(blocked))
    try:
        status, body = await get(stack, "/readyz")
        assert status == 503 and "database did not answer" in body["reason"]
        assert (await get(stack, "/healthz"))[0] == 200
    finally:
        release.set()
        await stuck
    assert await get(stack, "/readyz") == (200, {"ok": True})
