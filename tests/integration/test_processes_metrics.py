"""`grok2api serve` with SERVER_WORKERS=2 as real processes: `/metrics` adds up the counters
of both workers whichever one answers the scrape (prometheus_client's multiprocess files
under DATA_DIR), and both workers write JSON lines with request ids into the same daily log
file, with no key in either."""
from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import free_port
from tests.integration.test_processes import (  # noqa: F401 - the fixture
    HOST, MODEL, Procs, _gateway_env, _seed, _start_sim, procs,
)

KEY = "sk-multiproc-metrics-key-0123456789"


def _requests_total(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "grok2api_requests_total"
               and s.labels.get("endpoint") == "/v1/chat/completions")


def _gauge(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


async def test_two_workers_add_up_in_metrics_and_log_json_lines(procs: Procs) -> None:
    live = [f"mpm-{i}" for i in range(3)]
    data_dir: Path = procs.workdir / "data"
    _seed(data_dir, live, disabled="mpm-disabled", deleted="mpm-deleted")
    stale = data_dir / "prometheus" / "counter_1.db"  # a previous run's file: cleaned away
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not a metrics file")
    sim, sim_url = _start_sim(procs, live)
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = _gateway_env(procs, sim_url, port, SERVER_WORKERS="2", LOG_LEVEL="INFO",
                       LOG_FORMAT="json", GROK_APP_API_KEY=KEY)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(sim, sim_url + "/__sim/stats", "sim.log")
    await procs.wait_http(gateway, url + "/health", "gateway.log")
    assert not stale.exists()

    sent = 0
    ids: set[str] = set()
    pids: set[str] = set()
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        # new connections, so the kernel spreads them over the workers; until each served some
        while sent < 20 or len(pids) < 2:
            assert time.monotonic() < deadline, (sent, pids)
            async with http.post(url + "/v1/chat/completions", headers={
                    "Connection": "close", "Authorization": f"Bearer {KEY}"},
                    json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}) as resp:
                assert resp.status == 200
                ids.add(resp.headers["X-Request-Id"])
                await resp.read()
            sent += 1
            pids = {p.name.split("_")[-1] for p in (data_dir / "prometheus").glob("counter_*.db")}
        seen = []
        for _ in range(6):  # whichever worker answers, it reports both workers' counts
            async with http.get(url + "/metrics", headers={"Connection": "close"}) as resp:
                assert resp.status == 200
                text = await resp.text()
                seen.append(_requests_total(text))
    assert seen == [sent] * 6
    assert _gauge(text, "grok2api_requests_in_flight") == 0
    assert KEY not in text and not any(token in text for token in live)

    logs = list((data_dir / "logs").glob("*.log"))
    assert len(logs) == 1 and re.fullmatch(r"\d{4}-\d{2}-\d{2}\.log", logs[0].name)
    raw = logs[0].read_text()
    assert KEY not in raw
    access = [json.loads(line) for line in raw.splitlines() if '"grok2api.access"' in line]
    chats = [r for r in access if "/v1/chat/completions" in r["message"]]
    assert {r["request_id"] for r in chats} == ids
    assert len({r["process"] for r in chats}) == 2  # both workers wrote to the one file
