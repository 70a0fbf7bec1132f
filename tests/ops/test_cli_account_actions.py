"""`grok2api accounts enable|disable|nsfw` and `grok2api db status|migrate` (CliRunner)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli import main
from ops.cli_accounts import accounts, token_label
from ops.simulator.state import BIRTH_DATE_PATH, FEATURE_CONTROLS_PATH, TOS_PATH
from state.migrations import latest_version
from tests.ops.test_cli_accounts import TOK1, TOK2, TOK3, _list_json, data_dir  # noqa: F401


def _import(*tokens: str) -> None:
    result = CliRunner().invoke(accounts, ["import", "-", "--pool", "super"],
                                input="\n".join(tokens) + "\n")
    assert result.exit_code == 0, result.output


def _rows() -> dict[str, dict]:
    return {r["token"]: r for r in _list_json(CliRunner(), "--deleted")}


def test_disable_and_enable(data_dir: Path) -> None:  # noqa: F811
    _import(TOK1, TOK2, TOK3)
    runner = CliRunner()
    result = runner.invoke(accounts, ["disable", TOK1, TOK2])
    assert result.exit_code == 0, result.output
    assert "disabled 2, failed 0" in result.output and token_label(TOK1) in result.output
    assert TOK1 not in result.output
    rows = _rows()
    assert rows[TOK1]["status"] == rows[TOK2]["status"] == "disabled"
    assert rows[TOK1]["state_reason"] == "operator_disabled" and rows[TOK3]["status"] == "active"
    result = runner.invoke(accounts, ["enable", "--all", "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.output)
    assert out["summary"] == {"total": 2, "ok": 2, "fail": 0}
    assert out["results"][token_label(TOK1)] == {"ok": True, "status": "active"}
    assert all(r["status"] == "active" for r in _rows().values())
    result = runner.invoke(accounts, ["disable", "--all"])
    assert "disabled 3, failed 0" in result.output


def test_enable_unknown_and_deleted(data_dir: Path) -> None:  # noqa: F811
    _import(TOK1)
    runner = CliRunner()
    runner.invoke(accounts, ["delete", TOK1])
    result = runner.invoke(accounts, ["enable", TOK1, TOK2, "--json"])
    assert result.exit_code == 1
    out = orjson.loads(result.output)["results"]
    assert out[token_label(TOK1)] == {"ok": False, "error": "account deleted"}
    assert out[token_label(TOK2)] == {"ok": False, "error": "unknown account"}
    assert _rows()[TOK1]["deleted_at"] is not None  # a deleted account stays deleted


@pytest.mark.parametrize("command", ["enable", "disable", "nsfw"])
def test_tokens_or_all_required(data_dir: Path, command: str) -> None:  # noqa: F811
    result = CliRunner().invoke(accounts, [command])
    assert result.exit_code == 2 and "--all" in result.output


@pytest.fixture
def upstream(sim, data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    for name in ("BASE_URL", "ASSETS_URL", "ACCOUNTS_URL"):
        monkeypatch.setenv(f"GROK_UPSTREAM_{name}", sim.url)
    for tok in (TOK1, TOK2, TOK3):
        sim.state.add_token(tok, "super")
    return sim


async def invoke(*args: str):
    # the CLI runs its own event loop: off this one, which serves the simulator
    return await asyncio.to_thread(CliRunner().invoke, accounts, list(args))


async def test_nsfw_all_tags_accounts_and_expires_the_blocked(upstream) -> None:
    _import(TOK1, TOK2, TOK3)
    upstream.state.tokens[TOK2].birth_date = "1991-01-01T00:00:00.000Z"
    upstream.state.set_status(TOK3, "blocked")
    result = await invoke("nsfw", "--all", "--json")
    assert result.exit_code == 1  # one account failed
    out = orjson.loads(result.stdout)
    assert out["summary"] == {"total": 3, "ok": 2, "fail": 1}
    res = out["results"]
    assert res[token_label(TOK1)]["steps"] == {"tos": "accepted", "birth_date": "set",
                                              "nsfw": "enabled"}
    assert res[token_label(TOK2)]["steps"]["birth_date"] == "already_set"
    assert res[token_label(TOK3)]["expired"] == "blocked-user"
    assert TOK1 not in result.stdout and "[3/3]" in result.stderr
    rows = _rows()
    assert "nsfw" in rows[TOK1]["tags"] and "nsfw" in rows[TOK2]["tags"]
    assert rows[TOK3]["status"] == "expired" and "nsfw" not in rows[TOK3]["tags"]
    assert upstream.state.tokens[TOK1].nsfw and upstream.state.tokens[TOK2].nsfw
    assert len(upstream.state.requests_to(TOS_PATH)) == 3
    assert len(upstream.state.requests_to(BIRTH_DATE_PATH)) == 2


async def test_nsfw_off_named_token(upstream) -> None:
    _import(TOK1, TOK2)
    assert (await invoke("nsfw", TOK1)).exit_code == 0
    result = await invoke("nsfw", "--off", TOK1)
    assert result.exit_code == 0, result.output
    assert "nsfw disabled" in result.stdout
    assert "disabled 1, failed 0" in result.stdout
    assert "nsfw" not in _rows()[TOK1]["tags"] and not upstream.state.tokens[TOK1].nsfw
    assert len(upstream.state.requests_to(FEATURE_CONTROLS_PATH)) == 2
    assert not upstream.state.tokens[TOK2].tos_accepted  # not asked for


def test_db_status_and_migrate(data_dir: Path) -> None:  # noqa: F811
    runner = CliRunner()
    result = runner.invoke(main, ["db", "status", "--json"])
    assert result.exit_code == 1  # an empty database has every migration pending
    out = orjson.loads(result.output)
    assert out["current"] == 0 and out["latest"] == latest_version() == out["pending"]
    assert out["database"].startswith("sqlite ")
    result = runner.invoke(main, ["db", "migrate"])
    assert result.exit_code == 0, result.output
    assert f"from version 0 to {latest_version()}" in result.output
    result = runner.invoke(main, ["db", "migrate"])
    assert f"already at version {latest_version()}" in result.output
    result = runner.invoke(main, ["db", "status"])
    assert result.exit_code == 0, result.output
    assert f"schema version: {latest_version()} (latest {latest_version()})" in result.output
    assert "up to date" in result.output


def test_enable_after_a_429_puts_the_account_back_in_service(data_dir: Path) -> None:  # noqa: F811
    """A server's 429 left the account cooling with its mode at zero; `accounts enable` must
    leave it selectable (the zeroed quota reopened as unknown), not `active` but never used."""
    import time

    from state.db import open_sqlite
    from state.dbthread import DBThread
    from state.pool import AccountPool
    from state.store import AccountStore

    _import(TOK1)

    def with_pool(change) -> AccountPool:
        db = open_sqlite(data_dir / "accounts.db")
        thread, store = DBThread(db), AccountStore(db)
        try:
            pool = AccountPool(None)
            pool.load(thread.run_sync(store.list, include_deleted=True))
            change(pool)
            thread.run_sync(store.save, pool.all())
            return pool
        finally:
            thread.close()

    def rate_limit(pool: AccountPool) -> None:
        lease = pool.select(["super"], "auto")
        pool.on_rate_limited(lease, time.time() + 3600)
        pool.release(lease)

    with_pool(rate_limit)
    result = CliRunner().invoke(accounts, ["enable", TOK1])
    assert result.exit_code == 0, result.output
    served = with_pool(lambda pool: None)  # what a server loads (or merges) from the database
    lease = served.select(["super"], "auto")
    assert lease is not None and lease.token == TOK1
    assert served.get(TOK1).quota["auto"].remaining == 50
