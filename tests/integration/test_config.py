"""Settings changed with `grok2api config` reach a running gateway, and a config file of an
earlier version starts it."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from addons.upstream.mgw import MgwTransport
from ops.cli_config import config


@pytest.fixture
def cli(stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`grok2api config …` on the stack's DATA_DIR, as an operator would run it."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CONFIG_LOCAL_PATH", "ACCOUNT_LOCAL_PATH", "DATABASE_URL", "ACCOUNT_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(stack.data_dir))

    def run(*args: str) -> str:
        result = CliRunner().invoke(config, list(args))
        assert result.exit_code == 0, result.output
        return result.output
    return run


async def test_config_set_mgw_makes_the_gateway_chat_over_mgw(stack, cli) -> None:
    del stack.env["GROK_UPSTREAM_CHAT_TRANSPORT"]  # the file decides, not the environment
    cli("set", "upstream.chat_transport", "mgw")
    stack.transport = "mgw"  # read what the simulator saw on its WebSocket gateway
    gateway = await stack.start_gateway()
    assert isinstance(gateway.services.chat_transport, MgwTransport)
    stack.add_account("tok-a", "super")
    r = await stack.openai().chat.completions.create(
        model="grok-4.20-auto", messages=[{"role": "user", "content": "hi over mgw"}])
    assert r.choices[0].message.content
    assert stack.last_chat().message and "hi over mgw" in stack.last_chat().message


async def test_a_hot_setting_applies_without_restart(stack, cli) -> None:
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    cli("set", "app.api_key", "sk-new")
    body = {"model": "grok-4.20-auto", "messages": [{"role": "user", "content": "hi"}]}
    async with stack.http() as http:
        for _ in range(60):  # the file is checked at most once a second
            async with http.post("/v1/chat/completions", json=body) as resp:
                if resp.status == 401:
                    break
            await asyncio.sleep(0.05)
        assert resp.status == 401
        async with http.post("/v1/chat/completions", json=body,
                             headers={"Authorization": "Bearer sk-new"}) as resp:
            assert resp.status == 200


async def test_an_old_config_file_starts_the_gateway(stack, cli, caplog) -> None:
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    (stack.data_dir / "config.toml").write_text(
        '[app]\napi_key = "sk-old"\nwebui_enabled = true\n'
        '[logging]\nmax_files = 7\n[cache]\nkeep_base64_cache = true\n')
    with caplog.at_level(logging.WARNING, logger="state.settings"):
        await stack.start_gateway()
    assert "cache.keep_base64_cache is ignored: nothing in this version reads it" in caplog.text
    # logging.max_files and app.webui_enabled are read now (the daily log files, the web chat)
    assert sorted(stack.gateway.services.settings.ignored_keys()) == ["cache.keep_base64_cache"]
    assert stack.gateway.services.settings.options.app.webui_enabled is True
    assert stack.gateway.services.settings.options.logging.max_files == 7
    stack.add_account("tok-a", "super")
    r = await stack.openai(api_key="sk-old").chat.completions.create(
        model="grok-4.20-auto", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
