"""`grok2api backup` / `restore`: a SQLite data directory with every kind of row backed up,
then restored into a fresh SQLite, PostgreSQL and MariaDB database (throwaway databases on
GROK2API_TEST_PG_URL / GROK2API_TEST_MYSQL_URL), with the same rows coming back."""
from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli import main
from state.account import Account
from state.backup_tables import TABLES, dump_rows
from state.db import open_sqlite, open_url
from state.dbthread import DBThread
from state.keys_input import new_record
from state.keys_store import add_counters, insert_keys
from state.migrations import migrate
from state.models import UsageDayRow, UsageHourRow, VideoJobRow
from state.store import AccountStore
from tests.state.conftest import _server_db

TOKENS = [f"eyJhbGciOiJIUzI1NiJ9.backup{i}.sig{i}" for i in range(3)]
_ENV = ("CONFIG_LOCAL_PATH", "ACCOUNT_LOCAL_PATH", "DATABASE_URL", "ACCOUNT_STORAGE",
        "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL", "SERVER_STORAGE_URL",
        "SERVER_STORAGE_TYPE", "STORAGE_MODE", "REDIS_URL")


def _fill(thread: DBThread) -> str:
    """Accounts in several states, a key with counters, usage, a video job; returns the key."""
    def work() -> str:
        accs = [Account.new(TOKENS[0], "super", ["nsfw"], "first"),
                Account.new(TOKENS[1], "basic"), Account.new(TOKENS[2], "heavy")]
        accs[0].usage_use_count, accs[0].quota["auto"].remaining = 41, 9
        accs[1].status, accs[1].state_reason = "expired", "invalid_credentials"
        accs[2].deleted_at = 1_700_000_000_000
        AccountStore(thread.db).save(accs)
        record, key = new_record({"name": "team", "limits": {"chat_per_day": 50}})
        insert_keys([record])
        add_counters({(record.id, "d:2030-01-01"): [3, 2, 0, 1, 0, 900]},
                     {(record.id, "d:2030-01-01"): 1_900_000_000_000})
        for model in (UsageHourRow, UsageDayRow):
            model.insert(bucket=1_700_000_000, key=record.id, key_name="team",
                         model="grok-4.20-auto", endpoint="chat", tier="super", requests=7,
                         prompt_tokens=70, completion_tokens=140).execute()
        VideoJobRow.insert(id="video_abc", status="completed", model="grok-imagine-video",
                           prompt="a cat", seconds=6, size="1280x720", resolution="720p",
                           preset="normal", progress=100, media_id="x" * 32, owner="i1",
                           heartbeat_at=1, created_at=1, completed_at=2).execute()
        return key
    return thread.run_sync(work)


def _tables(thread: DBThread) -> dict[str, list[dict]]:
    def work() -> dict[str, list[dict]]:
        out = {n: list(dump_rows(n)) for n in TABLES}
        out["account_meta"] = [r for r in out["account_meta"]
                               if r["key"] in ("revision", "keys_revision")]
        return out
    return thread.run_sync(work)


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "old"
    data.mkdir()
    (data / "config.toml").write_text('[app]\napp_key = "admin-secret-1"\napi_key = "sk-x"\n'
                                      '[features]\nstream = true\n'
                                      '[proxy]\ncf_clearance = "cfsecret"\n')
    (data / "media" / "image").mkdir(parents=True)
    (data / "media" / "image" / ("A" * 32 + ".png")).write_bytes(b"\x89PNG image")
    thread = DBThread(open_sqlite(data / "accounts.db"))
    thread.run_sync(migrate, thread.db)
    _fill(thread)
    before = _tables(thread)
    thread.close()
    monkeypatch.setenv("DATA_DIR", str(data))
    return data, before


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path
          ) -> Iterator[tuple[Path, object, str | None]]:
    """A fresh DATA_DIR and database: the directory, a database opener, its URL (None for
    SQLite in the directory)."""
    data = tmp_path / "fresh"
    if request.param == "sqlite":
        yield data, lambda: open_sqlite(data / "accounts.db"), None
        return
    gen = _server_db(request.param)
    url = next(gen)
    yield data, lambda: open_url(url), url
    try:
        next(gen)
    except StopIteration:
        pass


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_round_trip_into_every_database(source: tuple[Path, dict], fresh: tuple,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    old, before = source
    archive = tmp_path / "backup.tar.gz"
    code, out = _run("backup", str(archive), "--with-media")
    assert code == 0, out
    assert "3 accounts" in out and "1 client_keys" in out and "1 video_jobs" in out
    assert "left out of config.toml" in out and "app.app_key" in out
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        manifest = orjson.loads(tar.extractfile("manifest.json").read())
        config = tar.extractfile("config.toml").read().decode()
        names = tar.getnames()
    assert manifest["format"] == "grok2api-backup" and manifest["version"] == 1
    assert manifest["secrets"]["account_tokens"] is True
    assert manifest["secrets"]["config_secrets"] is False
    assert manifest["counts"]["accounts"] == 3 and manifest["media_files"] == 1
    assert "admin-secret-1" not in config and "sk-x" not in config and "cfsecret" not in config
    assert "stream = true" in config
    assert "tables/usage_daily.jsonl" in names and "media/image/" + "A" * 32 + ".png" in names

    data, opener, url = fresh
    monkeypatch.setenv("DATA_DIR", str(data))
    if url is not None:
        monkeypatch.setenv("DATABASE_URL", url)
    code, out = _run("restore", str(archive))
    assert code == 0, out
    assert "restored 3 accounts" in out and "set app.app_key" in out
    thread = DBThread(opener())
    try:
        after = _tables(thread)
        accounts = {a.token: a for a in thread.run_sync(
            lambda: AccountStore(thread.db).load_all())}
    finally:
        thread.close()
    assert after == before  # every row of every table, as it was
    assert accounts[TOKENS[0]].quota["auto"].remaining == 9
    assert accounts[TOKENS[1]].status == "expired" and accounts[TOKENS[2]].deleted_at
    assert (data / "media" / "image" / ("A" * 32 + ".png")).read_bytes() == b"\x89PNG image"
    assert "stream = true" in (data / "config.toml").read_text()

    code, out = _run("restore", str(archive))
    assert code == 1 and "not empty" in out and "accounts: 3 row(s)" in out
    assert "config.toml exists" in out and "--force" in out
    code, out = _run("restore", str(archive), "--force")
    assert code == 0, out
    thread = DBThread(opener())
    try:
        assert _tables(thread) == before  # replaced, not doubled
    finally:
        thread.close()


def test_with_secrets_keeps_the_config_secrets(source: tuple[Path, dict], tmp_path: Path
                                               ) -> None:
    archive = tmp_path / "b.tar.gz"
    code, out = _run("backup", str(archive), "--with-secrets")
    assert code == 0 and "left out" not in out
    with tarfile.open(archive) as tar:
        manifest = orjson.loads(tar.extractfile("manifest.json").read())
        assert "admin-secret-1" in tar.extractfile("config.toml").read().decode()
        assert not any(n.startswith("media/") for n in tar.getnames())
    assert manifest["secrets"]["config_secrets"] is True


def test_not_an_archive_is_refused(source: tuple[Path, dict], tmp_path: Path) -> None:
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"not gzip")
    code, out = _run("restore", str(bogus))
    assert code == 1 and "cannot read the archive" in out
