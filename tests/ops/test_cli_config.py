from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from ops.cli_config import config


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CONFIG_LOCAL_PATH", "ACCOUNT_LOCAL_PATH", "DATABASE_URL", "ACCOUNT_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_get_default(data_dir: Path) -> None:
    result = CliRunner().invoke(config, ["get", "features.stream"])
    assert result.exit_code == 0 and result.stdout.strip() == "false"
    result = CliRunner().invoke(config, ["get", "features.filter_tags"])
    assert orjson.loads(result.stdout) == ["xaiartifact", "xai:tool_usage_card", "grok:render"]
    assert not data_dir.exists()


def test_get_unknown(data_dir: Path) -> None:
    result = CliRunner().invoke(config, ["get", "nope.nothing"])
    assert result.exit_code != 0 and "nope.nothing" in result.output


def test_set_creates_file_and_keeps_comments(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(config, ["set", "account.selection.max_inflight", "4"])
    assert result.exit_code == 0, result.output
    path = data_dir / "config.toml"
    assert "max_inflight = 4" in path.read_text()
    path.write_text("# mine\n" + path.read_text())
    assert runner.invoke(config, ["set", "app.api_key", "k1,k2"]).exit_code == 0
    text = path.read_text()
    assert text.startswith("# mine\n") and 'api_key = ["k1", "k2"]' in text
    assert runner.invoke(config, ["get", "account.selection.max_inflight"]).stdout.strip() == "4"


def test_invalid_set_names_key_and_leaves_file(data_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(config, ["set", "features.stream", "true"]).exit_code == 0
    path = data_dir / "config.toml"
    before = path.read_bytes()
    for key, value in [("features.stream", "perhaps"), ("upstream.chat_transport", "grpc"),
                       ("chat.timeout", "long"), ("bogus.key", "1")]:
        result = runner.invoke(config, ["set", key, value])
        assert result.exit_code != 0
        assert key in result.output
        assert path.read_bytes() == before


def test_list_masks_secrets_and_shows_sources(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    runner.invoke(config, ["set", "app.api_key", "sk-secret"])
    monkeypatch.setenv("GROK_FEATURES_STREAM", "true")
    result = runner.invoke(config, ["list"])
    assert result.exit_code == 0
    assert "sk-secret" not in result.output
    line = next(l for l in result.output.splitlines() if l.startswith("features.stream "))
    assert "true" in line and "[env]" in line
    full = orjson.loads(runner.invoke(config, ["list", "--json", "--show-secrets"]).output)
    assert full["app.api_key"] == {"value": ["sk-secret"], "source": "file"}
    assert full["app.app_key"]["source"] == "default"


def test_set_warns_when_env_overrides(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK_APP_APP_KEY", "env-pass")
    result = CliRunner().invoke(config, ["set", "app.app_key", "file-pass"])
    assert result.exit_code == 0
    assert "environment variable GROK_APP_APP_KEY overrides app.app_key" in result.output
    assert "file-pass" not in result.output and "env-pass" not in result.output


def test_set_refuses_a_key_nothing_reads(data_dir: Path) -> None:
    """Keys whose feature is not built (media formats, log files, …) cannot be set."""
    runner = CliRunner()
    for key, value in [("cache.keep_base64_cache", "true"),
                       ("retry.reset_session_status_codes", "[403]")]:
        result = runner.invoke(config, ["set", key, value])
        assert result.exit_code == 2
        assert f"{key}: unknown setting (nothing in this version reads it)" in result.output
    assert not (data_dir / "config.toml").exists()


def test_chat_transport_mgw_can_be_set(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(config, ["set", "upstream.chat_transport", "mgw"])
    assert result.exit_code == 0, result.output
    assert 'chat_transport = "mgw"' in (data_dir / "config.toml").read_text()
    assert runner.invoke(config, ["get", "upstream.chat_transport"]).stdout.strip() == "mgw"
    # the older spelling is still read, and stored as the documented one
    assert runner.invoke(config, ["set", "upstream.chat_transport", "ws"]).exit_code == 0
    assert 'chat_transport = "mgw"' in (data_dir / "config.toml").read_text()


def test_an_old_config_file_loads_and_reports_ignored_keys(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(
        '[app]\napp_key = "pw"\n[cache]\nkeep_base64_cache = true\n[token]\n'
        'save_delay_ms = 250\n')
    runner = CliRunner()
    result = runner.invoke(config, ["get", "cache.keep_base64_cache"])
    assert result.exit_code == 1
    assert "cache.keep_base64_cache is ignored: nothing in this version reads it" in result.output
    assert runner.invoke(config, ["get", "app.app_key", "--show-secrets"]).stdout.strip() == "pw"
    old = runner.invoke(config, ["get", "token.save_delay_ms"])
    assert old.exit_code == 0 and old.stdout.splitlines()[0] == "250"
    assert "older name of account.save_delay_ms" in old.output
    listed = runner.invoke(config, ["list"]).output.splitlines()
    assert any(line.startswith("cache.keep_base64_cache ") and "ignored" in line
               for line in listed)
    full = orjson.loads(runner.invoke(config, ["list", "--json"]).output)
    assert full["cache.keep_base64_cache"]["ignored"] is True
    assert full["account.save_delay_ms"] == {"value": 250, "source": "file"}


def test_docs_command_prints_the_reference(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    result = CliRunner().invoke(config, ["docs", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| `retry.max_retries` | int | `1` |" in text
    assert "| `upstream.chat_transport` | `rest` \\| `mgw` | `\"rest\"` |" in text


def test_get_masks_secrets_and_says_where_the_value_comes_from(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`config get` of a secret prints it masked unless --show-secrets, shows the value the
    server uses (an environment variable wins over the file) and says where it comes from."""
    runner = CliRunner()
    assert runner.invoke(config, ["set", "app.app_key", "file-admin-secret"]).exit_code == 0
    result = runner.invoke(config, ["get", "app.app_key"])
    assert result.exit_code == 0 and result.stdout.strip() == "********"
    assert "file-admin-secret" not in result.output
    assert f"source: file {data_dir / 'config.toml'}" in result.stderr
    shown = runner.invoke(config, ["get", "app.app_key", "--show-secrets"])
    assert shown.stdout.strip() == "file-admin-secret"

    monkeypatch.setenv("GROK_APP_APP_KEY", "env-admin-secret")
    monkeypatch.setenv("GROK_APP_API_KEY", "sk-one,sk-two")
    result = runner.invoke(config, ["get", "app.app_key", "--show-secrets"])
    assert result.stdout.strip() == "env-admin-secret"
    assert "source: environment variable GROK_APP_APP_KEY" in result.stderr
    result = runner.invoke(config, ["get", "app.api_key"])
    assert orjson.loads(result.stdout) == ["********", "********"]
    assert "sk-one" not in result.output and "sk-two" not in result.output
    default = runner.invoke(config, ["get", "features.stream"])
    assert default.stdout.strip() == "false" and "source: default" in default.stderr


def test_proxy_urls_keep_everything_but_the_password(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(config, ["set", "proxy.egress.proxy_url",
                                    "socks5h://user:hunter22@10.0.0.1:1080"])
    assert result.exit_code == 0 and "hunter22" not in result.output
    assert "socks5h://user:****@10.0.0.1:1080" in result.output
    assert runner.invoke(config, ["get", "proxy.egress.proxy_url"]).stdout.strip() \
        == "socks5h://user:****@10.0.0.1:1080"
    listed = runner.invoke(config, ["list"]).output
    assert "hunter22" not in listed and "socks5h://user:****@10.0.0.1:1080" in listed


def test_trusted_proxies_must_be_addresses(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(config, ["set", "server.trusted_proxies", "10.0.0.0/8, proxy.local"])
    assert result.exit_code == 2
    assert "server.trusted_proxies: 'proxy.local' is not an IP address or CIDR range" \
        in result.output
    assert runner.invoke(config, ["set", "server.trusted_proxies",
                                  "10.0.0.0/8, ::1"]).exit_code == 0
    assert orjson.loads(runner.invoke(config, ["get", "server.trusted_proxies"]).stdout) \
        == ["10.0.0.0/8", "::1"]
