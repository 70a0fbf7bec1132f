"""Startup-only configuration from the environment (and a `.env` file in the working directory).

These values are read once; everything that may change at runtime lives in `Settings`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["BootConfig", "BootError"]

#: Accepted names of the storage selector and their meaning; `None` = the local SQLite file.
_STORAGE_KINDS: dict[str, str | None] = {
    "": None, "local": None, "file": None, "sqlite": None,
    "mysql": "mysql", "mariadb": "mysql",
    "postgresql": "postgresql", "postgres": "postgresql", "pgsql": "postgresql", "pg": "postgresql",
}
_URL_NAMES = ("DATABASE_URL", "ACCOUNT_POSTGRESQL_URL", "ACCOUNT_MYSQL_URL", "SERVER_STORAGE_URL")
_KIND_NAMES = ("ACCOUNT_STORAGE", "SERVER_STORAGE_TYPE", "STORAGE_MODE")


class BootError(ValueError):
    """A startup variable has a value the gateway cannot work with."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BootError(f"{name} must be a number, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BootError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(slots=True)
class BootConfig:
    """Startup values; the CLI may override host/port/workers from its options."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    #: A server database URL, or None for SQLite at `account_local_path`. Kept out of repr()
    #: like `redis_url`: both may hold a password, and a config object ends up in logs.
    database_url: str | None = field(default=None, repr=False)
    #: The variable `database_url` came from, to name it in error messages.
    database_url_name: str = "DATABASE_URL"
    account_local_path: Path = Path("data/accounts.db")
    config_local_path: Path = Path("data/config.toml")
    sql_pool_size: int = 5
    sql_pool_recycle: int = 1800
    #: Seconds between polls of the account revision after a change, and once idle.
    sync_active_interval: float = 3.0
    sync_interval: float = 30.0
    #: Optional Redis shared by the instances: in-flight counts, revision signal, leases.
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str = "grok2api:"
    #: The merged environment (real variables over `.env`), for `Settings` (`GROK_*`).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dotenv: Path | str | bool = True) -> BootConfig:
        """Build from `environ` (default: the process environment) over `./.env`.

        `dotenv`: True reads `.env` in the working directory, a path reads that file,
        False reads none. Real variables always win over the file."""
        real = os.environ if environ is None else environ
        env: dict[str, str] = {}
        if dotenv:
            path = Path(".env") if dotenv is True else Path(dotenv)
            if path.is_file():
                env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        env.update(real)

        data_dir = Path(env.get("DATA_DIR") or "./data")
        port_default = _int(env, "PORT", 8000)
        kind_raw = next((env[n] for n in _KIND_NAMES if env.get(n, "").strip()), "")
        kind = kind_raw.strip().lower()
        if kind not in _STORAGE_KINDS:
            raise BootError(
                f"unsupported account storage {kind_raw!r}: use local, mysql or postgresql")
        url_name = next((n for n in _URL_NAMES if env.get(n, "").strip()), _URL_NAMES[0])
        url = env[url_name].strip() if env.get(url_name, "").strip() else None
        if _STORAGE_KINDS[kind] is None and kind:
            url = None  # explicitly local: a stray DATABASE_URL does not move the data
        elif _STORAGE_KINDS[kind] is not None and url is None:
            raise BootError(f"storage {kind!r} selected but no DATABASE_URL (or alias) is set")
        return cls(
            host=(env.get("SERVER_HOST") or "127.0.0.1").strip(),
            port=_int(env, "SERVER_PORT", port_default),
            workers=max(1, _int(env, "SERVER_WORKERS", 1)),
            data_dir=data_dir,
            log_level=(env.get("LOG_LEVEL") or "INFO").strip().upper(),
            database_url=url,
            database_url_name=url_name,
            account_local_path=Path(env.get("ACCOUNT_LOCAL_PATH") or data_dir / "accounts.db"),
            config_local_path=Path(env.get("CONFIG_LOCAL_PATH") or data_dir / "config.toml"),
            sql_pool_size=max(1, _int(env, "ACCOUNT_SQL_POOL_SIZE", 5)),
            sql_pool_recycle=max(1, _int(env, "ACCOUNT_SQL_POOL_RECYCLE", 1800)),
            sync_active_interval=max(0.05, _float(env, "ACCOUNT_SYNC_ACTIVE_INTERVAL", 3.0)),
            sync_interval=max(0.05, _float(env, "ACCOUNT_SYNC_INTERVAL", 30.0)),
            redis_url=(env.get("REDIS_URL") or "").strip() or None,
            redis_prefix=(env.get("REDIS_KEY_PREFIX") or "grok2api:").strip() or "grok2api:",
            environ=env,
        )

    def ensure_data_dir(self) -> Path:
        """Create DATA_DIR (and the SQLite file's folder) if missing; returns DATA_DIR."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url is None:
            self.account_local_path.parent.mkdir(parents=True, exist_ok=True)
        return self.data_dir
