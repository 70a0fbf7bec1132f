"""The first start on an empty PostgreSQL/MySQL database takes over the local SQLite
accounts (quota, counters, soft deletes) and renames the file."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from state.boot import BootConfig
from state.db import open_sqlite
from state.dbthread import DBThread
from state.migrations import migrate
from state.runtime import AccountState
from state.settings import Settings
from state.store import AccountStore
from tests.state.conftest import _server_db


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    gen = _server_db(request.param)
    yield next(gen)
    try:
        next(gen)
    except StopIteration:
        pass


def _seed_local(path: Path) -> None:
    thread = DBThread(open_sqlite(path))
    try:
        thread.run_sync(migrate, thread.db)
        store = AccountStore(thread.db)
        thread.run_sync(store.import_tokens, [("tok.a", "super", ["nsfw"]), ("tok.b", None, []),
                                              ("tok.c", None, [])])
        accs = {a.token: a for a in thread.run_sync(store.load_all)}
        a = accs["tok.a"]
        a.quota["auto"].remaining = 7
        a.usage_use_count, a.usage_fail_count, a.note = 12, 3, "kept"
        thread.run_sync(store.save, [a])
        thread.run_sync(store.delete, ["tok.c"])
    finally:
        thread.close()


async def _start(tmp_path: Path, url: str) -> AccountState:
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path), "DATABASE_URL": url}, dotenv=False)
    state = AccountState(boot, Settings.load(boot))
    await state.start()
    return state


async def test_local_accounts_move_to_an_empty_server_database(tmp_path: Path,
                                                               server_url: str) -> None:
    local = tmp_path / "accounts.db"
    _seed_local(local)
    state = await _start(tmp_path, server_url)
    try:
        pool = state.pool
        assert sorted(a.token for a in pool.all()) == ["tok.a", "tok.b", "tok.c"]
        a = pool.get("tok.a")
        assert a.pool == "super" and a.tags == ["nsfw"] and a.note == "kept"
        assert a.quota["auto"].remaining == 7
        assert (a.usage_use_count, a.usage_fail_count) == (12, 3)
        assert pool.get("tok.c").deleted_at is not None
        assert pool.get("tok.b").deleted_at is None
        assert state.revision >= 1
    finally:
        await state.stop()
    assert not local.exists() and (tmp_path / "accounts.db.migrated").is_file()

    # a later start (even with a new local file) copies nothing: the database has accounts
    _seed_local(local)
    again = await _start(tmp_path, server_url)
    try:
        assert again.pool.get("tok.a").quota["auto"].remaining == 7
        assert local.exists()
    finally:
        await again.stop()


async def test_database_lease_has_one_holder(tmp_path: Path, server_url: str) -> None:
    first = await _start(tmp_path, server_url)
    second = await _start(tmp_path / "other", server_url)
    try:
        assert await first.lease("quota-refresh", 30)
        assert not await second.lease("quota-refresh", 30)
        assert await first.lease("quota-refresh", 30)  # renewed
        await first.release_lease("quota-refresh")
        assert await second.lease("quota-refresh", 30)
        assert not await first.lease("quota-refresh", 30)
        assert await second.lease("quota-refresh", 0.01)  # renewed with a tiny TTL …
        await asyncio.sleep(0.05)
        assert await first.lease("quota-refresh", 30)  # … that expired: anyone may take it
    finally:
        await first.stop()
        await second.stop()
