"""`grok2api keys …` on the gateway's database: keys made while no server runs work once it
starts, and a change made while it runs is effective within the keys' sync interval."""
from __future__ import annotations

import asyncio

import openai
import orjson
import pytest
from click.testing import CliRunner

from ops.cli import main

MODEL = "grok-4.20-fast"


@pytest.fixture
def cli(stack, monkeypatch):
    monkeypatch.chdir(stack.data_dir)
    for name in ("CONFIG_LOCAL_PATH", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(stack.data_dir))
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["keys", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def fails(*args: str) -> str:
        result = runner.invoke(main, ["keys", *args], catch_exceptions=False)
        assert result.exit_code != 0
        return result.output

    run.fails = fails
    return run


async def chat(stack, key: str) -> str:
    answer = await stack.openai(key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}])
    return answer.choices[0].message.content


async def test_keys_cli_without_and_with_a_running_server(stack, cli):
    made = orjson.loads(cli("create", "--name", "ci", "--chat-per-day", "1", "--model", MODEL,
                            "--tag", "team-a", "--json"))
    key, key_id = made["key"], made["id"]
    assert key.startswith("sk-") and made["limits"]["chat_per_day"] == 1
    assert made["scope"] == {"pools": [], "tags": ["team-a"]}
    listed = cli("list")
    assert key_id in listed and made["display_key"] in listed and key not in listed
    assert "unknown model" in cli.fails("create", "--model", "no-such-model")
    assert "no such key" in cli.fails("disable", "sk-not-a-key-000000")

    await stack.start_gateway(GROK_KEYS_SYNC_INTERVAL_SEC="0.1")
    stack.add_account("tok-cli-1", "super")
    stack.gateway.pool.update_tags("tok-cli-1", add=["team-a"])
    assert await chat(stack, key)
    with pytest.raises(openai.RateLimitError):  # its one chat of the day is used
        await chat(stack, key)
    cli("update", key, "--chat-per-day", "-1", "--name", "ci-2")
    await asyncio.sleep(0.5)  # the server reloads the keys within the sync interval
    assert await chat(stack, key)
    cli("disable", key_id)
    await asyncio.sleep(0.5)
    with pytest.raises(openai.AuthenticationError):
        await chat(stack, key)
    cli("enable", key)
    await asyncio.sleep(0.5)
    assert await chat(stack, key)
    await asyncio.sleep(0.5)  # the counts go to the database behind the requests
    views = orjson.loads(cli("list", "--json"))
    assert views[0]["name"] == "ci-2" and views[0]["limits"]["chat_per_day"] is None
    assert views[0]["usage_today"]["chat_used"] == 3
    other = orjson.loads(cli("create", "--json"))["key"]
    cli("delete", key_id)
    await asyncio.sleep(0.5)
    with pytest.raises(openai.AuthenticationError):
        await chat(stack, key)
    assert await chat(stack, other)
    cli("delete", other)  # no key left at all: the gateway is open again
    await asyncio.sleep(0.5)
    assert await chat(stack, "anything")
