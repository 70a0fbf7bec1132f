from __future__ import annotations

from pathlib import Path

import pytest

from state.boot import BootConfig, BootError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    boot = BootConfig.from_env({})
    assert (boot.host, boot.port, boot.workers, boot.log_level) == ("127.0.0.1", 8000, 1, "INFO")
    assert boot.data_dir == Path("data")
    assert boot.database_url is None
    assert boot.account_local_path == Path("data/accounts.db")
    assert boot.config_local_path == Path("data/config.toml")
    assert not (tmp_path / "data").exists()  # created lazily
    boot.ensure_data_dir()
    assert (tmp_path / "data").is_dir()


def test_values_and_port_fallback(tmp_path: Path) -> None:
    env = {"PORT": "5000", "SERVER_HOST": "0.0.0.0", "SERVER_WORKERS": "4",
           "DATA_DIR": str(tmp_path / "d"), "LOG_LEVEL": "debug"}
    boot = BootConfig.from_env(env, dotenv=False)
    assert (boot.host, boot.port, boot.workers, boot.log_level) == ("0.0.0.0", 5000, 4, "DEBUG")
    assert boot.account_local_path == tmp_path / "d" / "accounts.db"
    assert BootConfig.from_env({**env, "SERVER_PORT": "9000"}, dotenv=False).port == 9000
    with pytest.raises(BootError, match="SERVER_PORT"):
        BootConfig.from_env({"SERVER_PORT": "eighty"}, dotenv=False)


def test_dotenv_does_not_override_real_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SERVER_PORT=7000\nLOG_LEVEL=WARNING\nGROK_APP_API_KEY=from-file\n")
    monkeypatch.chdir(tmp_path)
    boot = BootConfig.from_env({"LOG_LEVEL": "ERROR"})
    assert boot.port == 7000
    assert boot.log_level == "ERROR"
    assert boot.environ["GROK_APP_API_KEY"] == "from-file"  # reaches Settings.from_boot


@pytest.mark.parametrize("name", ["DATABASE_URL", "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL",
                                  "SERVER_STORAGE_URL"])
def test_database_url_aliases(name: str) -> None:
    assert BootConfig.from_env({name: "mysql://u@h/db"}, dotenv=False).database_url == "mysql://u@h/db"


def test_database_url_alias_order() -> None:
    env = {"SERVER_STORAGE_URL": "mysql://c/x", "ACCOUNT_POSTGRESQL_URL": "postgres://b/x"}
    assert BootConfig.from_env(env, dotenv=False).database_url == "postgres://b/x"


@pytest.mark.parametrize("var,value", [("ACCOUNT_STORAGE", "local"), ("STORAGE_MODE", "file"),
                                       ("SERVER_STORAGE_TYPE", "local")])
def test_explicit_local_storage_means_sqlite(var: str, value: str) -> None:
    boot = BootConfig.from_env({var: value, "DATABASE_URL": "postgres://h/db"}, dotenv=False)
    assert boot.database_url is None


def test_storage_errors() -> None:
    with pytest.raises(BootError, match="redis"):
        BootConfig.from_env({"ACCOUNT_STORAGE": "redis"}, dotenv=False)
    with pytest.raises(BootError, match="no DATABASE_URL"):
        BootConfig.from_env({"ACCOUNT_STORAGE": "mysql"}, dotenv=False)
    boot = BootConfig.from_env({"SERVER_STORAGE_TYPE": "pgsql", "SERVER_STORAGE_URL": "pgsql://h/d"},
                               dotenv=False)
    assert boot.database_url == "pgsql://h/d"


def test_urls_with_passwords_stay_out_of_repr() -> None:
    boot = BootConfig.from_env({"ACCOUNT_MYSQL_URL": "mysql://u:top-secret@h/db",
                                "REDIS_URL": "redis://:redis-secret@h:6379/0"}, dotenv=False)
    assert boot.database_url == "mysql://u:top-secret@h/db"
    assert boot.database_url_name == "ACCOUNT_MYSQL_URL"  # named in error messages
    assert "top-secret" not in repr(boot) and "redis-secret" not in repr(boot)
