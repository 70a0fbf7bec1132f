"""`grok2api accounts refresh` against the simulator: the database is updated directly."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli_accounts import accounts, token_label
from ops.simulator.state import RATE_LIMITS_PATH
from tests.ops.test_cli_accounts import TOK1, TOK2, TOK3, _list_json, data_dir  # noqa: F401


@pytest.fixture
def upstream(sim, data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("GROK_UPSTREAM_BASE_URL", sim.url)
    monkeypatch.setenv("GROK_UPSTREAM_ASSETS_URL", sim.url)
    sim.state.add_token(TOK1, "super")
    sim.state.add_token(TOK2, "basic")
    sim.state.add_token(TOK3, "heavy")
    return sim


async def invoke(*args: str, input: str | None = None):
    # the CLI runs its own event loop: off this one, which serves the simulator
    return await asyncio.to_thread(CliRunner().invoke, accounts, list(args), input=input)


async def test_refresh_all_settles_tiers_and_stores_real_quota(upstream) -> None:
    imported = await invoke("import", "-", input=f"{TOK1}\n{TOK2}\n{TOK3}\n")
    assert imported.exit_code == 0, imported.output
    upstream.state.set_quota(TOK1, "fast", 100, total=140)
    upstream.state.inject("403_blocked", token=TOK3, path=RATE_LIMITS_PATH)
    result = await invoke("refresh", "--all", "--json")
    assert result.exit_code == 1  # one account failed (expired)
    out = orjson.loads(result.stdout)
    assert out["summary"] == {"total": 3, "ok": 2, "fail": 1}
    assert out["results"][token_label(TOK1)]["moved"] == {"from": "basic", "to": "super"}
    assert out["results"][token_label(TOK3)]["expired"] == "blocked-user"
    assert TOK1 not in result.stdout  # tokens are masked
    assert "[3/3]" in result.stderr
    rows = {r["token"]: r for r in _list_json(CliRunner())}
    assert rows[TOK1]["pool"] == "super" and rows[TOK1]["quota"]["fast"]["remaining"] == 100
    assert rows[TOK1]["quota"]["fast"]["source"] == 1 and rows[TOK1]["last_sync_at"]
    assert rows[TOK2]["pool"] == "basic" and rows[TOK2]["quota"]["fast"]["source"] == 1
    assert rows[TOK3]["status"] == "expired"


async def test_refresh_named_tokens_in_text(upstream) -> None:
    await invoke("import", "-", input=f"{TOK1}\n{TOK2}\n")
    result = await invoke("refresh", TOK2)
    assert result.exit_code == 0, result.output
    assert "refreshed 1, failed 0" in result.stdout and token_label(TOK2) in result.stdout
    assert "fast:30/30" in result.stdout
    rows = {r["token"]: r for r in _list_json(CliRunner())}
    assert rows[TOK1]["last_sync_at"] is None  # not asked for
    missing = await invoke("refresh", TOK3)
    assert missing.exit_code == 1 and "unknown account" in missing.stdout


def test_refresh_needs_tokens_or_all(data_dir: Path) -> None:  # noqa: F811
    result = CliRunner().invoke(accounts, ["refresh"])
    assert result.exit_code == 2 and "--all" in result.output
