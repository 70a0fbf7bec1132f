"""No secret in the log, at DEBUG, while things go wrong: the real gateway and the simulator,
upstream faults, failovers, admin calls with right and wrong secrets. Every record any logger
writes (ours, peewee's SQL with its parameters, Hypercorn's, aiohttp's, curl_cffi's) is
collected and searched for every token and key the run used."""
from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest

from ops.logs import configure_logging

TOKENS = [f"eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uX2lkIjoi{i}{i}bWl4ZWQ.sig{i}Rk9vYmFy-0123456789"
          for i in range(4)] + ["plain-sso-value-not-a-jwt-7c41d0"]  # caught by the pool
NEW_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhZGRlZCI6dHJ1ZX0.c2lnbmF0dXJlLW9mLW5ldw"
API_KEY = "sk-live-client-key-5f2a9c"
OTHER_API_KEY = "sk-wrong-client-key-77e1"
ADMIN_KEY = "admin-secret-b81d4e"
WRONG_ADMIN = "admin-guess-0a9f3c"
CF_CLEARANCE = "cfclear4Zq8mN2pL7xR1tV6yB3wK9sD5"
SECRETS = [*TOKENS, NEW_TOKEN, API_KEY, OTHER_API_KEY, ADMIN_KEY, WRONG_ADMIN, CF_CLEARANCE]


@pytest.fixture
def every_record() -> Iterator[list[logging.LogRecord]]:
    """Every record any logger creates while the test runs, whichever handler gets it."""
    records: list[logging.LogRecord] = []
    make = logging.getLogRecordFactory()

    def keep(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        records.append(record)
        return record

    logging.setLogRecordFactory(keep)
    try:
        yield records
    finally:
        logging.setLogRecordFactory(make)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The server's own log set-up at DEBUG, writing to a buffer."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def chat(http, content: str, **headers: str) -> int:
    async with http.post("/v1/chat/completions", headers=headers, json={
            "model": "grok-4.20-fast", "messages": [{"role": "user", "content": content}],
            "stream": "stream" in content}) as resp:
        await resp.read()
        return resp.status


@pytest.mark.parametrize("chat_transport", ["rest", "mgw"])
async def test_no_secret_reaches_the_log_at_debug(stack, debug_log, every_record, capfd):
    await stack.start_gateway(GROK_APP_API_KEY=API_KEY, GROK_APP_APP_KEY=ADMIN_KEY,
                              GROK_PROXY__CLEARANCE__CF_COOKIES=f"cf_clearance={CF_CLEARANCE}",
                              GROK_CHAT_TIMEOUT="0.5", GROK_RETRY_MAX_RETRIES="3")
    for token in TOKENS:
        stack.add_account(token, "basic")
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    async with stack.http() as http:
        for fault in ("429", "401", "403_blocked", "403_cloudflare", "503", "inband_first",
                      "cut_mid", "usage_limit"):
            stack.sim.state.inject(fault, times=1)
            await chat(http, "[[sim tokens=4]]", **bearer)  # failover or an error: both log
        stack.sim.state.inject("stall", times=1, stall_ms=3000)
        await chat(http, "[[sim tokens=4]] stream", **{"x-api-key": API_KEY})
        assert await chat(http, "hi", Authorization=f"Bearer {OTHER_API_KEY}") == 401
        assert await chat(http, "hi", **{"x-api-key": OTHER_API_KEY}) == 401
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for headers, path in [({}, f"/admin/api/tokens?app_key={ADMIN_KEY}"),
                              ({}, f"/admin/api/tokens?app_key={WRONG_ADMIN}"),
                              ({"Authorization": f"Bearer {WRONG_ADMIN}"}, "/admin/api/verify"),
                              (admin, f"/admin/api/tokens?search={TOKENS[0]}")]:
            async with http.get(path, headers=headers) as resp:
                await resp.read()
        stack.sim.state.add_token(NEW_TOKEN, tier="super")
        async with http.post("/admin/api/tokens/add", headers=admin,
                             json={"tokens": [NEW_TOKEN, "not a token at all"]}) as resp:
            assert resp.status == 200
        async with http.post("/admin/api/tokens/disabled", headers=admin,
                             json={"token": TOKENS[1], "disabled": True}) as resp:
            assert resp.status == 200
        async with http.post("/admin/api/batch/refresh", headers=admin,
                             json={"tokens": [TOKENS[2], NEW_TOKEN]}) as resp:
            assert resp.status == 200
        async with http.post("/admin/api/sync", headers=admin) as resp:
            assert resp.status == 200
    await asyncio.sleep(0.1)  # the write-behind saves what changed (peewee logs its SQL)
    await stack.gateway.stop()
    stack.gateway = None

    text = debug_log.getvalue()
    assert "peewee" in text and "grok2api.access" in text, "the run wrote too little to judge"
    assert "<redacted" in text  # it had secrets to mask
    records = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}{r.stack_info or ''}"
               for r in every_record]
    out, err = capfd.readouterr()
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret not in out and secret not in err, secret
        leaks = [r for r in records if secret in r]
        assert not leaks, leaks[:3]
