from __future__ import annotations

import asyncio
from pathlib import Path

from state.continuations import ContinuationEntry, ContinuationStore, now_ms
from state.db import open_sqlite
from state.dbthread import DBThread
from state.migrations import migrate
from state.models import ContinuationRow


def entry(rid: str, age_sec: int = 0) -> ContinuationEntry:
    return ContinuationEntry(rid, "tok.a", "conv_1", "up_1", "grok-4.20-fast",
                             now_ms() - age_sec * 1000)


def rows(thread: DBThread) -> list[str]:
    return thread.run_sync(lambda: sorted(r.response_id for r in ContinuationRow.select()))


async def test_written_behind_and_found_after_reopening(dbthread: DBThread) -> None:
    store = ContinuationStore(dbthread, delay_ms=10)
    await store.start()
    store.record(entry("resp_1"))
    assert (await store.get("resp_1")).conversation_id == "conv_1"  # from memory at once
    for _ in range(100):
        if not len(store):
            break
        await asyncio.sleep(0.01)
    assert len(store) == 0 and rows(dbthread) == ["resp_1"]
    await store.stop()

    again = ContinuationStore(dbthread)
    await again.start()
    found = await again.get("resp_1")
    assert found is not None and (found.token, found.upstream_response_id) == ("tok.a", "up_1")
    assert await again.get("resp_unknown") is None
    await again.stop()


async def test_expired_entries_are_ignored_and_purged(tmp_path: Path) -> None:
    thread = DBThread(open_sqlite(tmp_path / "accounts.db"))
    thread.run_sync(migrate, thread.db)
    ttl = {"sec": 3600}
    store = ContinuationStore(thread, ttl_sec=lambda: ttl["sec"])
    assert store.enabled
    await store.start()
    store.record(entry("resp_old", age_sec=7200))
    store.record(entry("resp_new"))
    assert await store.get("resp_old") is None  # expired even while still in memory
    assert await store.get("resp_new") is not None
    await store.stop()
    assert rows(thread) == ["resp_new", "resp_old"]  # purge runs once per interval

    fresh = ContinuationStore(thread, ttl_sec=lambda: ttl["sec"])
    await fresh.start()  # the start purges
    assert rows(thread) == ["resp_new"]
    ttl["sec"] = 0
    assert not fresh.enabled and await fresh.get("resp_new") is None
    await fresh.stop()
    thread.close()


async def test_database_failure_is_a_miss_not_an_error(tmp_path: Path) -> None:
    thread = DBThread(open_sqlite(tmp_path / "accounts.db"))  # never migrated: no table
    store = ContinuationStore(thread)
    assert await store.get("resp_1") is None
    thread.close()
