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
    assert result.exit_code == 0 and result.output.strip() == "false"
    result = CliRunner().invoke(config, ["get", "features.filter_tags"])
    assert orjson.loads(result.output) == ["xaiartifact", "xai:tool_usage_card", "grok:render"]
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
    assert text.startswith("# mine\n") and 'api_key = "k1,k2"' in text
    assert runner.invoke(config, ["get", "account.selection.max_inflight"]).output.strip() == "4"


def test_invalid_set_names_key_and_leaves_file(data_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(config, ["set", "features.stream", "true"]).exit_code == 0
    path = data_dir / "config.toml"
    before = path.read_bytes()
    for key, value in [("features.stream", "perhaps"), ("features.image_format", "gif"),
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
    assert full["app.api_key"] == {"value": "sk-secret", "source": "file"}
    assert full["app.app_key"]["source"] == "default"


def test_set_warns_when_env_overrides(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK_APP_APP_KEY", "env-pass")
    result = CliRunner().invoke(config, ["set", "app.app_key", "file-pass"])
    assert result.exit_code == 0 and "environment variable overrides" in result.output
