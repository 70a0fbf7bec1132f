from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from state.boot import BootConfig
from state.db import normalize_url, open_database, open_sqlite, open_url
from state.dbthread import DBThread
from state.migrations import MIGRATIONS, current_version, latest_version, migrate


def test_sqlite_pragmas_are_applied(tmp_path: Path) -> None:
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path / "data")}, dotenv=False)
    db = open_database(boot)
    assert isinstance(db, peewee.SqliteDatabase)
    assert Path(db.database) == tmp_path / "data" / "accounts.db"
    db.connect()
    try:
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        db.close()


@pytest.mark.parametrize("url,expected", [
    ("postgres://u:p@h:5432/db", ("postgresql", "postgresql://u:p@h:5432/db")),
    ("pgsql://h/db?sslmode=require", ("postgresql", "postgresql://h/db?sslmode=require")),
    ("postgresql+asyncpg://h/db", ("postgresql", "postgresql://h/db")),
    ("mariadb://root@h/db", ("mysql", "mysql://root@h/db")),
    ("mysql+aiomysql://root@h/db", ("mysql", "mysql://root@h/db")),
])
def test_normalize_url(url: str, expected: tuple[str, str]) -> None:
    assert normalize_url(url) == expected


def test_unsupported_url() -> None:
    with pytest.raises(ValueError, match="redis"):
        normalize_url("redis://h/0")


def test_open_url_kinds(tmp_path: Path) -> None:
    pg = open_url("postgres://u:p%40ss@h:5432/db?sslmode=require")
    assert isinstance(pg, peewee.PostgresqlDatabase)
    assert pg.connect_params["sslmode"] == "require"
    assert pg.connect_params["password"] == "p@ss"
    my = open_url("mariadb://root@h:3306/db")
    assert isinstance(my, peewee.MySQLDatabase)
    lite = open_url(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(lite, peewee.SqliteDatabase) and lite.database == f"{tmp_path}/x.db"


def test_migrations_idempotent(tmp_path: Path) -> None:
    db = open_sqlite(tmp_path / "a.db")
    thread = DBThread(db)
    try:
        assert thread.run_sync(current_version, db) == 0
        assert thread.run_sync(migrate, db) == latest_version() == len(MIGRATIONS)
        assert thread.run_sync(migrate, db) == latest_version()
        tables = set(thread.run_sync(db.get_tables))
        assert {"accounts", "usage_daily", "account_meta", "schema_version"} <= tables
    finally:
        thread.close()
    # a fresh handle on the same file sees the applied version
    thread = DBThread(open_sqlite(tmp_path / "a.db"))
    try:
        assert thread.run_sync(current_version, thread.db) == latest_version()
    finally:
        thread.close()


def test_migrations_on_each_backend(dbthread: DBThread) -> None:
    assert dbthread.run_sync(migrate, dbthread.db) == latest_version()
    assert dbthread.run_sync(current_version, dbthread.db) == latest_version()


async def test_dbthread_runs_everything_on_one_thread(tmp_path: Path) -> None:
    import threading

    thread = DBThread(open_sqlite(tmp_path / "t.db"))
    try:
        idents = {await thread.run(threading.get_ident) for _ in range(5)}
        idents.add(thread.run_sync(threading.get_ident))
        assert len(idents) == 1 and threading.get_ident() not in idents
        # a nested sync call from the database thread itself does not deadlock
        assert await thread.run(lambda: thread.run_sync(lambda: 42)) == 42
    finally:
        thread.close()
    with pytest.raises(RuntimeError):
        await thread.run(lambda: 1)
