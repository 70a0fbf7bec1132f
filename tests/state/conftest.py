"""Database fixtures: SQLite always; PostgreSQL and MariaDB/MySQL when a server answers.

Server tests create a throwaway database of their own (and drop it), so they never touch
anything else on the server. URLs can be overridden with GROK2API_TEST_PG_URL /
GROK2API_TEST_MYSQL_URL."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee
import pytest

from state.db import open_sqlite, open_url
from state.dbthread import DBThread
from state.migrations import migrate

PG_URL = os.environ.get("GROK2API_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("GROK2API_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _server_db(kind: str) -> Iterator[str]:
    url = PG_URL if kind == "postgresql" else MYSQL_URL
    driver = "psycopg2" if kind == "postgresql" else "pymysql"
    pytest.importorskip(driver, reason=f"{kind} tests need the {driver} driver installed")
    if not _reachable(url):
        pytest.skip(f"{kind} server not reachable at {urlsplit(url).netloc}")
    name = f"g2a_state_{uuid.uuid4().hex[:10]}"
    admin = open_url(url)
    try:
        admin.connect()
        if kind == "postgresql":
            admin.connection().autocommit = True
        admin.execute_sql(f"CREATE DATABASE {name}")
    except peewee.DatabaseError as exc:
        admin.close()
        pytest.skip(f"{kind} server refused to create a test database: {exc}")
    admin.close()
    try:
        yield _with_db(url, name)
    finally:
        admin.connect()
        if kind == "postgresql":
            admin.connection().autocommit = True
            admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.close()
        admin.close_all()  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A callable returning a fresh (migrated) database handle on the same storage each
    call, to test that data survives reopening."""
    kind = request.param
    if kind == "sqlite":
        path = tmp_path / "accounts.db"
        yield lambda: open_sqlite(path)
        return
    gen = _server_db(kind)
    url = next(gen)
    opened: list[peewee.Database] = []

    def factory() -> peewee.Database:
        db = open_url(url)
        opened.append(db)
        return db

    try:
        yield factory
    finally:
        for db in opened:
            if not db.is_closed():
                db.close()
            db.close_all()  # type: ignore[attr-defined]
        try:
            next(gen)
        except StopIteration:
            pass


@pytest.fixture
def dbthread(db_factory: object) -> Iterator[DBThread]:
    db = db_factory()  # type: ignore[operator]
    thread = DBThread(db)
    thread.run_sync(migrate, db)
    yield thread
    thread.close()


@pytest.fixture
def sqlite_thread(tmp_path: Path) -> Iterator[DBThread]:
    db = open_sqlite(tmp_path / "accounts.db")
    thread = DBThread(db)
    thread.run_sync(migrate, db)
    yield thread
    thread.close()
