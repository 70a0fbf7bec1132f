"""`grok2api migrate` reading the account store an older gateway's environment names:
v2-py's tables on PostgreSQL and MySQL/MariaDB (with its `config_store`), v2-py's and the
fork's Redis layouts. Uses GROK2API_TEST_PG_URL / GROK2API_TEST_MYSQL_URL /
GROK2API_TEST_REDIS_URL (skipped when no server answers); every table and key made is
removed afterwards."""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from state.db import open_url
from tests.ops.legacy_dirs import TOK, V2_COLUMNS, V2_TABLE, v2_rows
from tests.ops.test_migrate import accounts, config, report, target  # noqa: F401 - fixture

PG_URL = os.environ.get("GROK2API_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("GROK2API_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("GROK2API_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["postgresql", "mysql"])
def sql_store(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(kind, url) of a server database holding v2-py's tables."""
    kind = request.param
    url = PG_URL if kind == "postgresql" else MYSQL_URL
    if not _reachable(url):
        pytest.skip(f"{kind} not reachable")
    db = open_url(url)
    db.connect()
    table = V2_TABLE.replace("token TEXT NOT NULL PRIMARY KEY",
                             "token VARCHAR(700) NOT NULL PRIMARY KEY")
    if kind == "mysql":
        table = table.replace("pool TEXT NOT NULL DEFAULT 'basic'", "pool VARCHAR(16) NOT NULL")
        table = table.replace("status TEXT NOT NULL DEFAULT 'active'", "status VARCHAR(16)")
    q = "`" if kind == "mysql" else '"'
    for name in ("accounts", "account_meta", "config_store"):
        db.execute_sql(f"DROP TABLE IF EXISTS {name}")
    db.execute_sql(table)
    db.execute_sql(f"CREATE TABLE config_store ({q}key{q} VARCHAR(191) PRIMARY KEY, "
                   f"{q}value{q} TEXT NOT NULL)")
    marks = ", ".join(["%s"] * len(V2_COLUMNS))
    for row in v2_rows():
        db.execute_sql(f"INSERT INTO accounts ({', '.join(V2_COLUMNS)}) VALUES ({marks})", row)
    for key, value in (("__version__", "3"), ("features.stream", "true"),
                       ("app.app_key", json.dumps("store-secret")),
                       ("chat.timeout", "75")):
        db.execute_sql("INSERT INTO config_store VALUES (%s, %s)", (key, value))
    db.close()
    try:
        yield kind, url
    finally:
        db.connect()
        for name in ("accounts", "config_store"):
            db.execute_sql(f"DROP TABLE IF EXISTS {name}")
        db.close()
        db.close_all()  # type: ignore[attr-defined]


def _driver_url(kind: str, url: str) -> str:
    """The URL as the old gateway's .env wrote it (SQLAlchemy's async driver names)."""
    scheme, rest = url.split("://", 1)
    return ("postgresql+asyncpg://" if kind == "postgresql" else "mysql+aiomysql://") + rest


def test_v2_sql_store_named_by_the_old_env(tmp_path: Path, target: Path,  # noqa: F811
                                           sql_store: tuple[str, str]) -> None:
    kind, url = sql_store
    old = tmp_path / "old"
    old.mkdir()
    variable = "ACCOUNT_POSTGRESQL_URL" if kind == "postgresql" else "ACCOUNT_MYSQL_URL"
    (old / ".env").write_text(f"ACCOUNT_STORAGE={kind}\n{variable}={_driver_url(kind, url)}\n")
    rep = report(str(old), "--apply")
    assert rep["errors"] == [], rep["errors"]
    assert rep["accounts"]["sources"][0]["read"] == 3
    got = accounts(target)
    assert set(got) == {TOK[4], TOK[5], TOK[6]}
    assert got[TOK[4]].quota["auto"].remaining == 12 and got[TOK[4]].tags == ["nsfw"]
    assert got[TOK[6]].deleted_at is not None
    cfg = config(target)
    assert cfg["features"]["stream"] is True and cfg["chat"]["timeout"] == 75
    assert cfg["app"]["app_key"] == "store-secret"
    assert report(str(old), "--apply")["changes"] == 0


@pytest.fixture
def redis_client() -> Iterator[object]:
    redis = pytest.importorskip("redis")
    if not _reachable(REDIS_URL):
        pytest.skip("redis not reachable")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def test_v2_and_fork_redis_layouts(tmp_path: Path, target: Path,  # noqa: F811
                                   redis_client: object) -> None:
    r = redis_client
    # v2-py: accounts:record:<token> hashes (values as strings) and the config:user hash
    for row in v2_rows()[:2]:
        data = dict(zip(V2_COLUMNS, row))
        token = data.pop("token")
        r.hset(f"accounts:record:{token}",  # type: ignore[attr-defined]
               mapping={k: "" if v is None else str(v) for k, v in data.items()})
        r.sadd(f"accounts:pool:{data['pool']}", token)  # type: ignore[attr-defined]
    r.set("accounts:rev", 9)  # type: ignore[attr-defined]
    r.hset("config:user", mapping={"features.temporary": "false"})  # type: ignore[attr-defined]
    # the fork: grok2api:pool:<pool> sets of ids and grok2api:token:<id> hashes
    r.sadd("grok2api:pools", "ssoSuper")  # type: ignore[attr-defined]
    r.sadd("grok2api:pool:ssoSuper", "id-1")  # type: ignore[attr-defined]
    r.hset("grok2api:token:id-1", mapping={  # type: ignore[attr-defined]
        "token": TOK[7], "status": "active", "quota": "140", "tags": '["vip"]',
        "note": "fork redis"})
    old = tmp_path / "old"
    old.mkdir()
    (old / ".env").write_text(f"SERVER_STORAGE_TYPE=redis\nSERVER_STORAGE_URL={REDIS_URL}\n")
    rep = report(str(old), "--apply")
    assert rep["errors"] == [], rep["errors"]
    got = accounts(target)
    assert set(got) == {TOK[4], TOK[5], TOK[7]}
    assert got[TOK[4]].quota["fast"].remaining == 100 and got[TOK[5]].status == "expired"
    assert (got[TOK[7]].pool, got[TOK[7]].tags, got[TOK[7]].note) == ("super", ["vip"],
                                                                       "fork redis")
    assert config(target)["features"]["temporary"] is False
    assert report(str(old), "--apply")["changes"] == 0
