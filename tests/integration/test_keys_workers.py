"""Client-key limits across workers: `grok2api serve` with SERVER_WORKERS=2 and Redis, the
simulator as a subprocess. Each request goes on a new connection, so the kernel spreads them
over both workers; the access log (one line per request, with the worker's pid and the
request id) shows which worker answered which, and the test goes on until both answered.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid
from urllib.parse import urlsplit

import aiohttp
import pytest

from state.db import open_sqlite
from state.dbthread import DBThread
from state.keys_input import new_record
from state.keys_store import insert_keys
from state.migrations import migrate
from state.store import AccountStore
from tests.integration.conftest import free_port
from tests.integration.test_processes import HOST, MODEL, Procs, _gateway_env, _log_lines, _start_sim

REDIS_URL = os.environ.get("GROK2API_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ACCESS = re.compile(r"\[(\d+)\] \[([0-9a-f]{16})\] grok2api\.access: POST /v1/chat/completions "
                    r"(\d+) ")


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.close()


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or HOST, parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _seed(data_dir, tokens: list[str], keys: list[dict]) -> list[str]:
    """Accounts and client keys written to the database, as the CLI does; the key values."""
    data_dir.mkdir(parents=True, exist_ok=True)
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        thread.run_sync(migrate, thread.db)
        thread.run_sync(AccountStore(thread.db).import_tokens, [(t, "super", ()) for t in tokens])
        made = [new_record(k) for k in keys]
        thread.run_sync(insert_keys, [r for r, _ in made])
        return [v for _, v in made]
    finally:
        thread.close()


async def _start(procs: Procs, keys: list[dict]) -> tuple[str, list[str]]:
    if not _redis_reachable():
        pytest.skip("no Redis at " + urlsplit(REDIS_URL).netloc)
    tokens = [f"kw-{i}" for i in range(3)]
    values = _seed(procs.workdir / "data", tokens, keys)
    sim, sim_url = _start_sim(procs, tokens)
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = _gateway_env(procs, sim_url, port, SERVER_WORKERS="2", LOG_LEVEL="INFO",
                       REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=f"g2a-test-{uuid.uuid4().hex[:8]}:",
                       GROK_KEYS_SYNC_INTERVAL_SEC="0.1")
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(sim, sim_url + "/__sim/stats", "sim.log")
    await procs.wait_http(gateway, url + "/health", "gateway.log")
    return url, values


async def _chat(http: aiohttp.ClientSession, url: str, key: str,
                content: str = "hi") -> tuple[int, str, str | None]:
    async with http.post(url + "/v1/chat/completions", headers={
            "Connection": "close", "Authorization": f"Bearer {key}"}, json={
            "model": MODEL, "messages": [{"role": "user", "content": content}]}) as resp:
        body = await resp.json()
        code = None if resp.status == 200 else body["error"]["code"]
        return resp.status, resp.headers["X-Request-Id"], code


def _workers_of(procs: Procs, request_ids: set[str]) -> set[str]:
    """The pids of the workers that answered these requests (from the access log)."""
    return {m.group(1) for line in _log_lines(procs, "gateway.log")
            if (m := ACCESS.search(line)) and m.group(2) in request_ids}


async def test_rpm_holds_across_two_workers(procs: Procs) -> None:
    url, [key] = await _start(procs, [{"name": "rpm-3", "rpm": 3}])
    answers: list[tuple[int, str, str | None]] = []
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        while True:
            answers.append(await _chat(http, url, key))
            await asyncio.sleep(0.3)  # past a sync interval: each worker saw the other's
            refused = {rid for status, rid, _ in answers if status == 429}
            if len(answers) >= 8 and len(_workers_of(procs, refused)) == 2:
                break
            assert time.monotonic() < deadline, answers
    assert [status for status, _, _ in answers[:3]] == [200, 200, 200]
    assert all(status == 429 and code == "rpm_exceeded" for status, _, code in answers[3:])
    assert key not in "\n".join(_log_lines(procs, "gateway.log"))


async def test_concurrency_holds_across_two_workers(procs: Procs) -> None:
    url, [key] = await _start(procs, [{"name": "one-at-a-time", "max_concurrency": 1}])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        slow = asyncio.create_task(_chat(http, url, key, "[[sim tokens=6 delay_ms=800]]"))
        await asyncio.sleep(0.8)  # under way, and every worker has heard of it
        refused: list[tuple[int, str, str | None]] = []
        deadline = time.monotonic() + 4
        while True:
            refused.append(await _chat(http, url, key))
            ids = {rid for _, rid, _ in refused}
            if len(refused) >= 4 and len(_workers_of(procs, ids)) == 2:
                break
            assert time.monotonic() < deadline and not slow.done(), refused
            await asyncio.sleep(0.05)
        assert all(status == 429 and code == "concurrency_exceeded"
                   for status, _, code in refused), refused
        assert (await slow)[0] == 200
        await asyncio.sleep(0.3)  # the freed slot reaches the other worker too
        for _ in range(4):
            assert (await _chat(http, url, key))[0] == 200
