"""Store and pool persistence, run against SQLite, PostgreSQL and MariaDB/MySQL."""
from __future__ import annotations

from collections.abc import Callable

import peewee

from state.account import Account
from state.dbthread import DBThread
from state.importing import parse_import
from state.migrations import latest_version, migrate
from state.pool import AccountPool
from state.store import AccountStore
from state.writer import WriteBehind


def test_import_list_delete(dbthread: DBThread) -> None:
    store = AccountStore(dbthread.db)
    items = parse_import("t1.aa\nt2.bb\nt3.cc\n").tokens
    summary = dbthread.run_sync(store.import_tokens, items)
    assert (summary.added, summary.restored, summary.skipped) == (3, 0, 0)
    again = dbthread.run_sync(store.import_tokens, [("t1.aa", "super", []), ("t4.dd", "super", ["x"])])
    assert (again.added, again.skipped) == (1, 1)
    assert dbthread.run_sync(store.get, "t1.aa").pool == "basic"  # a live token is untouched
    assert [a.token for a in dbthread.run_sync(store.list, "super")] == ["t4.dd"]
    assert dbthread.run_sync(store.delete, ["t1.aa", "t1.aa", "nope"]) == 1
    assert len(dbthread.run_sync(store.list)) == 3
    assert len(dbthread.run_sync(store.list, include_deleted=True)) == 4
    restored = dbthread.run_sync(store.import_tokens, [("t1.aa", "super", ["n"])])
    assert restored.restored == 1
    acc = dbthread.run_sync(store.get, "t1.aa")
    assert acc.deleted_at is None and acc.pool == "super" and acc.tags == ["n"]


def test_revision_grows(dbthread: DBThread) -> None:
    store = AccountStore(dbthread.db)
    r0 = dbthread.run_sync(store.revision)
    dbthread.run_sync(store.save, [Account.new("a.1"), Account.new("a.2")])
    r1 = dbthread.run_sync(store.revision)
    assert r1 > r0
    dbthread.run_sync(store.save, [Account.new("a.3")])
    assert [a.token for a in dbthread.run_sync(store.load_since, r1)] == ["a.3"]


async def test_pool_state_survives_restart(db_factory: Callable[[], peewee.Database]) -> None:
    thread = DBThread(db_factory())
    thread.run_sync(migrate, thread.db)
    store = AccountStore(thread.db)
    writer = WriteBehind(thread, store, delay_ms=20)
    writer.start()
    pool = AccountPool(writer)
    pool.load(await thread.run(store.load_all))
    for i in range(3):
        pool.add(f"tok{i}.x", "super", tags=["t"])
    for _ in range(6):
        lease = pool.select(["super"], "auto")
        pool.on_success(lease)
        pool.release(lease)
    lease = pool.select(["super"], "auto")
    pool.on_rate_limited(lease, 4_102_444_800)  # 2100-01-01
    pool.release(lease)
    pool.on_invalid_credentials("tok2.x", "token expired")
    pool.delete("tok1.x")
    await writer.stop()
    before = {a.token: (a.status, a.usage_use_count, a.quota["auto"].remaining, a.deleted_at)
              for a in pool.all()}
    thread.close()

    thread = DBThread(db_factory())
    try:
        assert thread.run_sync(migrate, thread.db) == latest_version()
        store = AccountStore(thread.db)
        pool2 = AccountPool(None)
        pool2.load(await thread.run(store.load_all))
        after = {a.token: (a.status, a.usage_use_count, a.quota["auto"].remaining, a.deleted_at)
                 for a in pool2.all()}
        assert after == before
        assert sum(a.usage_use_count for a in pool2.all()) == 6
        assert pool2.get("tok0.x").tags == ["t"]
    finally:
        thread.close()
