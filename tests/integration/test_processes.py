"""Real processes: `grok2api serve` and `grok2api simulate` as subprocesses.

* Crash safety: the gateway is killed with SIGKILL under load and restarted; every account is
  still there with its status, and the usage counters lost at most the write-behind interval.
* Several workers (SERVER_WORKERS=2) on one SQLite file: an account imported while they run,
  and an expiry one worker noticed, reach every worker within the sync interval.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from state.db import open_sqlite
from state.dbthread import DBThread
from state.migrations import migrate
from state.store import AccountStore
from tests.integration.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SAVE_DELAY_MS = 300
MODEL = "grok-4.20-fast"


class Procs:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.workdir / log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "ops.cli", *args], cwd=self.workdir,
                                    env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def tail(self, log: str) -> str:
        path = self.workdir / log
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.exists() else ""

    async def wait_http(self, proc: subprocess.Popen[bytes], url: str, log: str) -> None:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"{log} exited:\n{self.tail(log)}"
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{url} not ready:\n{self.tail(log)}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the server and its workers
                proc.wait(10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.close()


def _seed(data_dir: Path, live: list[str], *, disabled: str, deleted: str) -> None:
    """Accounts written straight to the database, as `grok2api accounts import` does."""
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        thread.run_sync(migrate, thread.db)
        store = AccountStore(thread.db)
        thread.run_sync(store.import_tokens, [(t, "super", ()) for t in [*live, disabled, deleted]])
        acc = thread.run_sync(store.get, disabled)
        acc.status, acc.state_reason = "disabled", "operator_disabled"
        thread.run_sync(store.save, [acc])
        thread.run_sync(store.delete, [deleted])
    finally:
        thread.close()


def _stored(data_dir: Path) -> dict[str, object]:
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        return {a.token: a for a in thread.run_sync(AccountStore(thread.db).load_all)}
    finally:
        thread.close()


def _start_sim(p: Procs, tokens: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    tokens_file = p.workdir / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    port = free_port()
    proc = p.spawn(["simulate", "--host", HOST, "--port", str(port), "--tier", "super",
                    "--no-quota", "--tokens-file", str(tokens_file), "--quiet"], "sim.log")
    return proc, f"http://{HOST}:{port}"


def _gateway_env(p: Procs, sim_url: str, port: int, **extra: str) -> dict[str, str]:
    return {**p.env, "DATA_DIR": str(p.workdir / "data"), "SERVER_HOST": HOST,
            "SERVER_PORT": str(port), "SERVER_WORKERS": "1", "LOG_LEVEL": "WARNING",
            "GROK_UPSTREAM_BASE_URL": sim_url, "GROK_UPSTREAM_ASSETS_URL": sim_url,
            "GROK_ACCOUNT_SAVE_DELAY_MS": str(SAVE_DELAY_MS), "GROK_RETRY_BACKOFF_BASE_MS": "0",
            **extra}


async def _chat(http: aiohttp.ClientSession, url: str) -> int:
    async with http.post(url + "/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "[[sim tokens=3]]"}]}) as resp:
        await resp.read()
        return resp.status


async def test_kill_9_under_load_then_restart_keeps_accounts_and_counters(procs: Procs) -> None:
    live = [f"crash-live-{i}" for i in range(6)]
    unknown = "crash-unknown"  # the simulator refuses it: the gateway marks it expired
    disabled, deleted = "crash-disabled", "crash-deleted"
    data_dir = procs.workdir / "data"
    _seed(data_dir, [*live, unknown], disabled=disabled, deleted=deleted)
    sim, sim_url = _start_sim(procs, [*live, disabled, deleted])
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = _gateway_env(procs, sim_url, port)
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(sim, sim_url + "/__sim/stats", "sim.log")
    await procs.wait_http(gateway, url + "/health", "gateway.log")

    done: list[float] = []  # client-side completion times of successful chats
    stop = asyncio.Event()

    async def client(http: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                if await _chat(http, url) == 200:
                    done.append(time.monotonic())
            except aiohttp.ClientError:
                return  # the server is gone

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        clients = [asyncio.create_task(client(http)) for _ in range(8)]
        await asyncio.sleep(2.0)
        killed_at = time.monotonic()
        os.kill(gateway.pid, signal.SIGKILL)  # mid-load: requests are in flight
        gateway.wait(10)
        stop.set()
        await asyncio.gather(*clients)
    assert len(done) > 50, procs.tail("gateway.log")

    # restart on the same data: it comes up and has every account
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(gateway, url + "/health", "gateway.log")
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/health") as resp:
            assert (await resp.json())["accounts"] == len(live) + 3
        assert await _chat(http, url) == 200
    gateway.terminate()  # a graceful stop flushes the restarted gateway's one chat
    gateway.wait(30)

    stored = _stored(data_dir)
    assert set(stored) == {*live, unknown, disabled, deleted}
    assert all(stored[t].status == "active" and stored[t].deleted_at is None for t in live)
    assert stored[unknown].status == "expired"
    assert stored[disabled].status == "disabled"
    assert stored[deleted].deleted_at is not None
    # usage: everything finished a write-behind interval (plus a transaction's time) before
    # the kill was saved; nothing is counted twice
    saved = sum(stored[t].usage_use_count for t in live) - 1  # less the chat after restart
    margin = SAVE_DELAY_MS / 1000 + 0.3
    must_have = sum(1 for t in done if t <= killed_at - margin)
    assert must_have <= saved <= len(done) + 8, (must_have, saved, len(done))


async def test_two_workers_share_changes_within_the_sync_interval(procs: Procs) -> None:
    live = [f"multi-{i}" for i in range(3)]
    unknown = "multi-unknown"
    data_dir = procs.workdir / "data"
    _seed(data_dir, live, disabled="multi-disabled", deleted="multi-deleted")
    sim, sim_url = _start_sim(procs, [*live, "multi-late"])
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = _gateway_env(procs, sim_url, port, SERVER_WORKERS="2",
                       ACCOUNT_SYNC_ACTIVE_INTERVAL="0.2", ACCOUNT_SYNC_INTERVAL="0.5")
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(sim, sim_url + "/__sim/stats", "sim.log")
    await procs.wait_http(gateway, url + "/health", "gateway.log")

    async def all_workers_report(accounts: int) -> None:
        deadline = time.monotonic() + 5
        async with aiohttp.ClientSession() as http:
            while True:
                seen = []
                for _ in range(16):  # new connections: the kernel spreads them over workers
                    async with http.get(url + "/health", headers={"Connection": "close"}) as resp:
                        seen.append((await resp.json())["accounts"])
                if set(seen) == {accounts}:
                    return
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.1)

    await all_workers_report(5)
    # an import while the workers run (as the CLI does): every worker picks it up
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        thread.run_sync(AccountStore(thread.db).import_tokens,
                        [("multi-late", "super", ()), (unknown, "super", ())])
    finally:
        thread.close()
    await all_workers_report(7)
    # traffic: whichever worker meets the unknown token marks it expired; after the
    # interval no worker sends it upstream again
    async with aiohttp.ClientSession() as http:
        for _ in range(12):
            assert await _chat(http, url) == 200
        await asyncio.sleep(1.0)
        async with http.delete(sim_url + "/__sim/requests") as resp:
            assert resp.status < 300
        for _ in range(24):
            async with http.post(url + "/v1/chat/completions", headers={"Connection": "close"},
                                 json={"model": MODEL, "messages": [
                                     {"role": "user", "content": "x"}]}) as resp:
                assert resp.status == 200
        async with http.get(sim_url + "/__sim/requests?limit=1000") as resp:
            sent = (await resp.json())["requests"]
    assert _stored(data_dir)[unknown].status == "expired"
    tokens = [r.get("token") for r in sent]
    assert tokens and unknown not in tokens
    assert "multi-late" in tokens


def _log_lines(p: Procs, log: str) -> list[str]:
    path = p.workdir / log
    return path.read_text(errors="replace").splitlines() if path.exists() else []


async def test_a_fresh_single_process_logs_that_it_leads_and_nothing_else(procs: Procs) -> None:
    port = free_port()
    env = _gateway_env(procs, "http://127.0.0.1:9", port, LOG_LEVEL="INFO")
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(gateway, f"http://{HOST}:{port}/health", "gateway.log")
    lines = _log_lines(procs, "gateway.log")
    scheduler = [line for line in lines if "quota scheduler" in line]
    assert len(scheduler) == 1 and "this process leads" in scheduler[0], lines
    assert not any("another process" in line for line in lines)
    # Hypercorn's lines go through the one handler, once
    assert sum("Running on" in line for line in lines) == 1, lines
    assert f"[{gateway.pid}]" in scheduler[0]


async def test_two_workers_both_log_with_request_ids(procs: Procs) -> None:
    key = "sk-workers-secret-987654321"
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = _gateway_env(procs, "http://127.0.0.1:9", port, SERVER_WORKERS="2", LOG_LEVEL="INFO",
                       GROK_APP_API_KEY=key)
    gateway = procs.spawn(["serve"], "gateway.log", env)
    await procs.wait_http(gateway, url + "/health", "gateway.log")

    access = re.compile(r"\[(\d+)\] \[([0-9a-f]{16})\] grok2api\.access: GET /v1/models 200 ")
    ids: set[str] = set()
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            # new connections: the kernel spreads them over the workers
            async with http.get(url + "/v1/models", headers={
                    "Connection": "close", "Authorization": f"Bearer {key}"}) as resp:
                assert resp.status == 200
                ids.add(resp.headers["X-Request-Id"])
            await asyncio.sleep(0.02)
            seen = {m.group(1): m.group(2) for line in _log_lines(procs, "gateway.log")
                    if (m := access.search(line))}
            if len(seen) == 2 or time.monotonic() > deadline:
                break
    lines = _log_lines(procs, "gateway.log")
    assert len(seen) == 2, "\n".join(lines[-30:])  # an access line from each worker
    assert set(seen.values()) <= ids  # with the id each response carried
    assert str(gateway.pid) not in seen  # written by the workers, not the parent
    ready = {m.group(1) for line in lines if (m := re.search(r"\[(\d+)\] .*grok2api ready", line))}
    assert ready == set(seen)
    scheduler = [line for line in lines if "quota scheduler" in line]
    assert sum("this process leads" in line for line in scheduler) == 1, scheduler
    assert sum("another process (pid" in line for line in scheduler) == 1, scheduler
    assert key not in "\n".join(lines)
