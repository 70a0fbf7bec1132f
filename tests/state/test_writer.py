from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from state.db import open_sqlite
from state.dbthread import DBThread
from state.migrations import migrate
from state.pool import AccountPool
from state.store import AccountStore
from state.writer import WriteBehind


async def _setup(thread: DBThread, delay_ms: int = 50) -> tuple[AccountStore, WriteBehind, AccountPool]:
    store = AccountStore(thread.db)
    writer = WriteBehind(thread, store, delay_ms=delay_ms)
    writer.start()
    pool = AccountPool(writer)
    pool.load(await thread.run(store.load_all))
    return store, writer, pool


async def test_burst_is_one_transaction(sqlite_thread: DBThread) -> None:
    store, writer, pool = await _setup(sqlite_thread, delay_ms=100)
    for i in range(20):
        pool.add(f"tok{i}", "super")  # urgent marks
    await asyncio.sleep(0.05)
    base = writer.transactions
    assert base >= 1 and writer.pending == 0
    for _ in range(50):
        lease = pool.select(["super"], "auto")
        pool.on_success(lease)
        pool.release(lease)
    assert writer.transactions == base  # nothing written yet: debounced
    await asyncio.sleep(0.3)
    assert writer.transactions == base + 1
    rows = await sqlite_thread.run(store.load_all)
    assert sum(a.usage_use_count for a in rows) == 50
    await writer.stop()


async def test_urgent_mark_flushes_without_delay(sqlite_thread: DBThread) -> None:
    store, writer, pool = await _setup(sqlite_thread, delay_ms=10_000)
    pool.add("tok.a")
    await asyncio.sleep(0.1)
    assert writer.transactions == 1
    pool.on_invalid_credentials("tok.a", "blocked-user")
    await asyncio.sleep(0.1)
    assert (await sqlite_thread.run(store.get, "tok.a")).status == "expired"
    await writer.stop()


async def test_stop_flushes_and_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    thread = DBThread(open_sqlite(path))
    thread.run_sync(migrate, thread.db)
    _, writer, pool = await _setup(thread, delay_ms=60_000)
    pool.add("tok.keep", "heavy", tags=["nsfw"], note="mine")
    lease = pool.select(["heavy"], "heavy")
    pool.on_success(lease)
    pool.on_failure(lease, "502")
    pool.release(lease)
    await writer.stop()
    thread.close()

    thread = DBThread(open_sqlite(path))
    try:
        thread.run_sync(migrate, thread.db)
        again = AccountStore(thread.db)
        accounts = await thread.run(again.load_all)
        assert len(accounts) == 1
        a = accounts[0]
        assert (a.token, a.pool, a.tags, a.note) == ("tok.keep", "heavy", ["nsfw"], "mine")
        assert a.usage_use_count == 1 and a.usage_fail_count == 1 and a.last_fail_reason == "502"
        assert a.quota["heavy"].remaining == 19 and a.inflight == 0
    finally:
        thread.close()


async def test_failed_flush_keeps_changes(sqlite_thread: DBThread) -> None:
    store, writer, pool = await _setup(sqlite_thread, delay_ms=60_000)
    pool.add("tok.x")
    await asyncio.sleep(0.05)
    calls = {"n": 0}
    real = store.write_merged

    def broken(*args: object, **kw: object) -> int:
        calls["n"] += 1
        raise RuntimeError("disk full")

    store.write_merged = broken  # type: ignore[method-assign]
    lease = pool.select(["basic"], "fast")
    pool.on_success(lease)
    with pytest.raises(RuntimeError):
        await writer.flush_now()
    assert writer.pending == 1  # the account is still pending
    store.write_merged = real  # type: ignore[method-assign]
    await writer.stop()
    assert writer.pending == 0
    assert (await sqlite_thread.run(store.get, "tok.x")).usage_use_count == 1
    assert calls["n"] == 1
