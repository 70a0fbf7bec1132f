"""The client keys in the database (SQLite, PostgreSQL, MySQL): hashes only, revisions that
every process polls, and usage counters shared by the processes on one database."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from state import keys_store as store
from state.dbthread import DBThread
from state.keys import KeyPolicy, Scope
from state.keys_input import new_record
from state.keys_limits import Admission, Refusal
from state.keys_service import KeyService
from state.models import ClientKeyRow

SETTINGS = SimpleNamespace(options=SimpleNamespace(keys=SimpleNamespace(sync_interval_sec=1.0)))


def test_keys_are_stored_as_hashes_and_every_write_moves_the_revision(dbthread: DBThread) -> None:
    record, value = new_record({"name": "team", "rpm": 5, "scope": {"tags": ["a"]}})
    start = dbthread.run_sync(store.keys_revision)
    [stored] = dbthread.run_sync(store.insert_keys, [record])
    assert stored.revision > start
    rows = dbthread.run_sync(lambda: [r.__data__ for r in ClientKeyRow.select()])
    assert value not in str(rows) and rows[0]["key_hash"] == record.key_hash
    with pytest.raises(store.DuplicateKey):
        dbthread.run_sync(store.insert_keys, [record.with_changes(id="key_other")])
    changed = stored.with_changes(policy=KeyPolicy(rpm=9, scope=Scope(frozenset({"super"}))))
    saved = dbthread.run_sync(store.update_key, changed)
    assert saved is not None and saved.revision > stored.revision
    assert dbthread.run_sync(store.set_enabled, [stored.id], False) == 1
    revision, [loaded] = dbthread.run_sync(store.load_keys)
    assert revision >= saved.revision and not loaded.enabled
    assert loaded.policy.rpm == 9 and loaded.policy.scope.pools == {"super"}
    dbthread.run_sync(store.touch_last_used, {stored.id: 1234})
    assert dbthread.run_sync(store.load_keys)[1][0].last_used_at == 1234
    assert dbthread.run_sync(store.load_keys)[0] == revision  # a time stamp reloads nothing
    assert dbthread.run_sync(store.delete_keys, [stored.id]) == 1
    assert dbthread.run_sync(store.load_keys)[1] == []


def test_counters_add_up_from_several_processes(dbthread: DBThread) -> None:
    deltas = {("key_a", "d:2026-01-01"): [1, 1, 0, 2, 0, 10]}
    expiry = {("key_a", "d:2026-01-01"): 10**13}
    dbthread.run_sync(store.add_counters, deltas, expiry)
    dbthread.run_sync(store.add_counters, deltas, expiry)
    found = dbthread.run_sync(store.read_counters, ["key_a"], ["d:2026-01-01", "m:1"])
    assert found == {("key_a", "d:2026-01-01"): [2, 2, 0, 4, 0, 20]}
    dbthread.run_sync(store.add_counters, {("key_a", "m:1"): [1, 0, 0, 0, 0, 0]},
                      {("key_a", "m:1"): 5})
    assert dbthread.run_sync(store.prune_counters, 100) == 1
    assert ("key_a", "m:1") not in dbthread.run_sync(store.read_counters, ["key_a"], ["m:1"])


async def test_two_processes_share_a_limit_through_the_database(dbthread: DBThread) -> None:
    """Two services on one database (as two workers): what one lets in counts for the other
    after a sync, and a key created by one is loaded by the other."""
    one = KeyService(dbthread, SETTINGS)
    other = KeyService(DBThread(dbthread.db), SETTINGS)
    await one.start()
    await other.start()
    try:
        record, value = new_record({"name": "shared", "rpm": 3,
                                    "limits": {"chat_per_day": 2}})
        await one.create([record])
        assert one.find(value) is not None
        assert other.find(value) is None
        await other.sync_once()
        rec = other.find(value)
        assert rec is not None and rec.policy.rpm == 3
        assert isinstance(one.admit(rec, {"chat": 1}), Admission)
        assert isinstance(one.admit(rec, {"chat": 1}), Admission)
        await one.sync_once()
        await other.sync_once()
        refused = other.admit(rec, {"chat": 1})
        assert isinstance(refused, Refusal) and refused.code == "daily_quota_exceeded"
        assert other.usage_today(rec.id)["chat"] == 2
    finally:
        await other.stop()
        await one.stop()
        await asyncio.get_running_loop().run_in_executor(None, other.thread._executor.shutdown)
