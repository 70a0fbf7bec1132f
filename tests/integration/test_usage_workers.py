"""Usage accounting with SERVER_WORKERS=2 on one database: each worker writes its own
increments and audit rows, and what the database holds adds up to the traffic sent."""
from __future__ import annotations

import time

import aiohttp

from state.db import open_sqlite
from state.dbthread import DBThread
from state.models import RequestAuditRow
from state.usage_query import usage_series
from tests.integration.conftest import free_port
from tests.integration.test_processes import (  # noqa: F401 - `procs` is a fixture
    HOST, MODEL, Procs, _gateway_env, _seed, _start_sim, procs,
)

CHATS = 24


async def test_two_workers_usage_adds_up_to_the_traffic(procs: Procs) -> None:
    live = [f"usage-w-{i}" for i in range(3)]
    data_dir = procs.workdir / "data"
    _seed(data_dir, live, disabled="usage-w-disabled", deleted="usage-w-deleted")
    sim, sim_url = _start_sim(procs, live)
    port = free_port()
    url = f"http://{HOST}:{port}"
    gateway = procs.spawn(["serve"], "gateway.log", _gateway_env(
        procs, sim_url, port, SERVER_WORKERS="2"))
    await procs.wait_http(sim, sim_url + "/__sim/stats", "sim.log")
    await procs.wait_http(gateway, url + "/health", "gateway.log")
    sent_ids = []
    async with aiohttp.ClientSession() as http:
        for n in range(CHATS):
            # new connections: the kernel spreads them over the workers
            async with http.post(url + "/v1/chat/completions", headers={
                    "Connection": "close", "X-Request-Id": f"usage-worker-{n}"}, json={
                    "model": MODEL, "stream": n % 2 == 0,
                    "messages": [{"role": "user", "content": "[[sim tokens=3]]"}]}) as resp:
                await resp.read()
                assert resp.status == 200
                sent_ids.append(resp.headers["x-request-id"])
    gateway.terminate()  # a graceful stop saves what each worker still holds
    gateway.wait(30)

    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        now = int(time.time())
        usage = thread.run_sync(usage_series, now - 3600, now, None, None)
        rows = thread.run_sync(lambda: list(RequestAuditRow.select().dicts()))
    finally:
        thread.close()
    assert usage["totals"]["requests"] == CHATS and usage["totals"]["failures"] == 0
    assert usage["totals"]["streams"] == CHATS // 2
    assert sorted(r["request_id"] for r in rows) == sorted(sent_ids)
    assert sum(r["prompt_tokens"] for r in rows) == usage["totals"]["prompt_tokens"] > 0
    assert sum(r["completion_tokens"] for r in rows) == usage["totals"]["completion_tokens"] > 0
    assert all(r["ttft_ms"] is not None for r in rows if r["stream"])
