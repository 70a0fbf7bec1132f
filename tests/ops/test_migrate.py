"""`grok2api migrate`: each older generation's data directory into a fresh one, dry run
first, then --apply, then --apply again (which must change nothing)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli import main
from state.db import open_sqlite
from state.dbthread import DBThread
from state.keys import hash_key
from state.keys_store import load_keys
from state.store import AccountStore
from tests.ops.legacy_dirs import FORK_KEY, TOK, fork_dir, v0_dir, v1_dir, v2_dir

_ENV = ("CONFIG_LOCAL_PATH", "ACCOUNT_LOCAL_PATH", "DATABASE_URL", "ACCOUNT_STORAGE",
        "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL", "SERVER_STORAGE_URL",
        "SERVER_STORAGE_TYPE", "STORAGE_MODE", "REDIS_URL")


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DATA_DIR (the working directory has no .env of its own)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "new"))
    return tmp_path / "new"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["migrate", *args], catch_exceptions=False)
    return result.exit_code, result.output


def report(*args: str) -> dict:
    code, out = run(*args, "--json")
    assert code == 0, out
    return orjson.loads(out)


def accounts(data_dir: Path) -> dict:
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        return {a.token: a for a in thread.run_sync(lambda: AccountStore(thread.db).load_all())}
    finally:
        thread.close()


def keys(data_dir: Path) -> list:
    thread = DBThread(open_sqlite(data_dir / "accounts.db"))
    try:
        return thread.run_sync(load_keys)[1]
    finally:
        thread.close()


def snapshot(data_dir: Path) -> dict[str, bytes]:
    """Every file of the data directory (the database's content through its rows)."""
    out = {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*"))
           if p.is_file() and not p.name.startswith("accounts.db")}
    out["rows"] = orjson.dumps(sorted(
        (t, a.status, a.revision, a.updated_at) for t, a in accounts(data_dir).items()))
    return out


def config(data_dir: Path) -> dict:
    return tomllib.loads((data_dir / "config.toml").read_text())


def test_fork_directory_dry_run_then_apply_then_nothing(tmp_path: Path, target: Path) -> None:
    old = fork_dir(tmp_path / "fork-data")
    code, out = run(str(old))
    assert code == 0, out
    assert "dry run" in out
    assert "grok.max_retry -> retry.max_retries" in out
    assert "grok.cf_clearance -> proxy.clearance.cf_cookies" in out
    assert "dropped  grok.image_generation_method: the model decides" in out
    assert "dropped  register.solver_threads: automatic account registration" in out
    assert "app.image_format -> features.image_format = \"base64\"" in out
    assert "problem: token.json: ssoSuper[1]: no token left after normalisation" in out
    assert "accounts: 2 new (basic 1, super 1), 0 already there" in out
    assert "client keys: 2 new (alice, bob)" in out
    assert "skipped tmp/image/b.bmp" in out
    # secrets never in the report
    assert "fork-admin-secret" not in out and "pw@" not in out and "cfclear123" not in out
    assert FORK_KEY not in out
    assert not target.exists()  # a dry run writes nothing, not even an empty database

    rep = report(str(old), "--apply")
    assert rep["written"]["accounts"] == rep["accounts"]["new"] >= 2
    got = accounts(target)
    basic = got[TOK[2]]
    assert (basic.pool, basic.status, basic.note) == ("basic", "expired", "from the fork")
    assert basic.tags == ["nsfw", "team-a"] and basic.usage_use_count == 17
    assert basic.ext["legacy_quota"] == {"quota": 60, "heavy_quota": -1}
    assert got[TOK[3]].pool == "super"  # the sso= prefix dropped
    cfg = config(target)
    assert cfg["features"]["temporary"] is False and cfg["features"]["image_format"] == "base64"
    assert cfg["retry"]["max_retries"] == 5 and cfg["retry"]["on_codes"] == [401, 429]
    assert cfg["proxy"]["egress"] == {"proxy_url": "http://u:pw@proxy:8080",
                                      "mode": "single_proxy"}
    assert cfg["proxy"]["clearance"]["cf_cookies"] == "cf_clearance=cfclear123"
    assert cfg["app"]["app_key"] == "fork-admin-secret"
    assert cfg["chat"]["timeout"] == 150 and cfg["batch"]["nsfw_concurrency"] == 7
    stored = {k.name: k for k in keys(target)}
    assert stored["alice"].key_hash == hash_key(FORK_KEY)
    assert stored["alice"].policy.limits == {"chat": 100, "image": 20, "video": 0}
    assert stored["alice"].created_at == 1_700_000_000_000
    assert stored["bob"].enabled is False and stored["bob"].policy.limits == {"heavy": 5}
    images = list((target / "media" / "image").iterdir())
    videos = list((target / "media" / "video").iterdir())
    assert [p.read_bytes() for p in images] == [b"\x89PNG fork image"]
    assert len(images[0].stem) == 32 and images[0].suffix == ".png"
    assert [p.suffix for p in videos] == [".mp4"]

    before = snapshot(target)
    again = report(str(old), "--apply")
    assert again["changes"] == 0
    assert again["written"] == {"config": 0, "accounts": 0, "keys": 0, "media": 0}
    assert again["accounts"]["already_there"] == rep["accounts"]["new"]
    assert snapshot(target) == before  # idempotent: not a byte or a row changed


def test_v0_directory_setting_toml_and_keyed_token_json(tmp_path: Path, target: Path) -> None:
    old = v0_dir(tmp_path / "v0")
    rep = report(str(old), "--apply")
    lines = {(c["old"], c["new"]): c for c in rep["config"]}
    assert lines[("global.admin_password", "app.app_key")]["value"] == "********"
    dropped = {d["old"]: d["reason"] for d in rep["config_dropped"]}
    assert dropped["global.admin_username"].startswith("one admin secret")
    assert dropped["global.log_level"] == "set LOG_LEVEL in the environment"
    cfg = config(target)
    assert cfg["app"] == {"app_url": "https://old.example", "app_key": "v0-secret-pass",
                          "api_key": ["sk-v0-client-key"]}
    assert cfg["features"]["thinking"] is False
    assert cfg["features"]["filter_tags"] == ["xaiartifact", "grok:render"]
    assert cfg["chat"] == {"total_timeout": 300.0, "first_byte_timeout": 20.0}
    assert cfg["upstream"]["statsig_id"] == "fixed-statsig"
    assert cfg["cache"]["local"]["image_max_mb"] == 256
    got = accounts(target)
    assert got[TOK[0]].pool == "basic" and got[TOK[0]].created_at == 1_690_000_000_000
    assert got[TOK[1]].pool == "super" and got[TOK[1]].usage_fail_count == 2
    assert [p.suffix for p in (target / "media" / "image").iterdir()] == [".jpg"]
    assert report(str(old), "--apply")["changes"] == 0


def test_v1_config_sections_are_mapped(tmp_path: Path, target: Path) -> None:
    old = v1_dir(tmp_path / "v1")
    rep = report(str(old))
    actions = {c["old"]: (c["new"], c["action"], c["value"]) for c in rep["config"]}
    assert actions["app.image_format"] == ("features.image_format", "write", "local_url")
    assert actions["app.video_format"] == ("features.video_format", "default", "local_html")
    assert actions["app.disable_memory"] == ("features.memory", "write", True)
    assert actions["token.refresh_interval_hours"] == (
        "account.refresh.basic_interval_sec", "write", 28800)
    assert actions["retry.retry_backoff_base"] == ("retry.backoff_base_ms", "write", 500)
    assert actions["app.app_key"][1] == "default"  # the shipped default is no secret to carry
    dropped = {d["old"]: d["reason"] for d in rep["config_dropped"]}
    assert "max_inflight" in dropped["chat.concurrent"]
    assert set(dropped) >= {"retry.retry_budget", "token.fail_threshold",
                            "cache.enable_auto_clean", "imagine_fast.n"}
    assert rep["accounts"]["sources"] == [] and rep["errors"] == []


def test_v2_directory_with_its_sqlite_accounts(tmp_path: Path, target: Path) -> None:
    old = v2_dir(tmp_path / "v2")
    rep = report(str(old), "--apply")
    assert "accounts.db (v2-py SQLite)" in rep["found"]
    got = accounts(target)
    sup = got[TOK[4]]
    assert (sup.pool, sup.status, sup.tags, sup.usage_use_count) == ("super", "active",
                                                                      ["nsfw"], 42)
    assert sup.quota["auto"].remaining == 12 and sup.quota["fast"].remaining == 100
    assert sup.quota["grok-420-computer-use-sa"].remaining == 7
    assert sup.ext["note_from_v2"] == 1
    assert (got[TOK[5]].status, got[TOK[5]].last_fail_reason) == ("expired",
                                                                  "invalid-credentials")
    assert got[TOK[6]].deleted_at == 1_700_000_080_000  # a soft delete stays one
    cfg = config(target)
    assert cfg["features"] == {"image_format": "grok_url", "stream": True}
    assert cfg["app"]["api_key"] == ["sk-a", "sk-b"]
    dropped = {d["old"] for d in rep["config_dropped"]}
    assert {"account.storage.backend", "voice.timeout"} <= dropped
    assert len(list((target / "media" / "image").iterdir())) == 1
    # the old file is read only: still v2-py's, untouched
    import sqlite3
    con = sqlite3.connect(old / "accounts.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()
    assert report(str(old), "--apply")["changes"] == 0


def test_target_values_are_kept_and_reported(tmp_path: Path, target: Path) -> None:
    old = fork_dir(tmp_path / "fork-data")
    target.mkdir()
    (target / "config.toml").write_text("[retry]\nmax_retries = 2\n")
    rep = report(str(old), "--apply")
    line = next(c for c in rep["config"] if c["new"] == "retry.max_retries")
    assert line["action"] == "kept"
    assert config(target)["retry"]["max_retries"] == 2


def test_old_database_in_place_of_the_target_is_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        target: Path) -> None:
    old = v2_dir(tmp_path / "data")
    monkeypatch.setenv("DATA_DIR", str(old))
    code, out = run(str(old), "--apply")
    assert code == 1 and "Move the old folder aside" in out and "mv " in out


def test_a_missing_directory_is_an_error(tmp_path: Path, target: Path) -> None:
    code, out = run(str(tmp_path / "nowhere"))
    assert code != 0 and "not a directory" in out
