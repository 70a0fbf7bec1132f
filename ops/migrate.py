"""`grok2api migrate FROM_DIR`: take over an older FastAPI gateway's data directory.

What is looked for in FROM_DIR (any generation, api-surface §0, §8.10, §9.3–9.5):

* configuration: `setting.toml` (v0), `config.toml` (v1.x / fork / v2-py, `[grok]` included),
  and the config store of the account backend (v2-py's Redis `config:user` hash or SQL
  `config_store` table; the fork's Redis `grok2api:config` hash), all read through
  `state.legacy_config` (every key mapped or dropped, with the reason);
* accounts: `token.json` (v0 / v1.x / fork), `accounts.db` (v2-py's SQLite, or this
  gateway's own), and the MySQL / PostgreSQL / Redis store the old gateway's environment
  names (`FROM_DIR/.env`, `FROM_DIR/../.env`, `--env-file`; `ACCOUNT_STORAGE` with
  `ACCOUNT_*_URL`, `SERVER_STORAGE_TYPE`/`SERVER_STORAGE_URL`, `STORAGE_MODE`/`DATABASE_URL`),
  or given with `--source-url`;
* the fork's API keys (`api_keys.json`) → managed client keys with the same daily limits;
* cached media (`files/`, `tmp/`, `temp/`) → the media cache.

The plan is made against the target (this gateway's DATA_DIR / DATABASE_URL, from the current
environment): what is already there is left alone (an account by its token, a key by its hash,
a config key the target file sets, a media file by its content), so a second run writes
nothing. Nothing is written without `apply`.
"""
from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from dotenv import dotenv_values

from ops.migrate_media import MediaPlan, apply_media, plan_media
from state.account import Account
from state.boot import BootConfig
from state.config_values import flatten
from state.legacy_accounts import (
    Found, read_fork_redis, read_token_json, read_v2_redis, read_v2_rows,
)
from state.legacy_config import ConfigMapping, map_config
from state.legacy_keys import ForkKeys, read_api_keys
from state.redact import SECRET_OPTIONS, mask_setting

__all__ = ["MigrationPlan", "MigrationError", "apply_plan", "make_plan", "old_environment"]

_KIND_NAMES = ("ACCOUNT_STORAGE", "SERVER_STORAGE_TYPE", "STORAGE_MODE")
_URLS = {
    "redis": ("ACCOUNT_REDIS_URL", "SERVER_STORAGE_URL", "REDIS_URL", "DATABASE_URL"),
    "mysql": ("ACCOUNT_MYSQL_URL", "SERVER_STORAGE_URL", "DATABASE_URL"),
    "postgresql": ("ACCOUNT_POSTGRESQL_URL", "SERVER_STORAGE_URL", "DATABASE_URL"),
}
_KINDS = {"redis": "redis", "mysql": "mysql", "mariadb": "mysql", "postgresql": "postgresql",
          "postgres": "postgresql", "pgsql": "postgresql", "pg": "postgresql"}
_SECRETS = frozenset(SECRET_OPTIONS) | {"video.webhook_secret"}


class MigrationError(Exception):
    """The migration cannot go on (the message says why and what to do)."""


@dataclass(slots=True)
class ConfigLine:
    old: str
    new: str
    value: Any
    source: str
    action: str  # write | same | kept | default | shadowed


@dataclass(slots=True)
class MigrationPlan:
    root: Path
    found: list[str] = field(default_factory=list)
    config: list[ConfigLine] = field(default_factory=list)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)  # (source, key, reason)
    account_sources: list[Found] = field(default_factory=list)
    accounts_new: list[Account] = field(default_factory=list)
    accounts_present: int = 0
    keys: ForkKeys | None = None
    keys_new: list[Any] = field(default_factory=list)
    keys_present: list[str] = field(default_factory=list)
    media: MediaPlan = field(default_factory=MediaPlan)
    errors: list[str] = field(default_factory=list)

    def config_writes(self) -> dict[str, Any]:
        return {c.new: c.value for c in self.config if c.action == "write"}

    def changes(self) -> int:
        return (len(self.config_writes()) + len(self.accounts_new) + len(self.keys_new)
                + len(self.media.copy))


# ---------------------------------------------------------------------- the old environment
def old_environment(root: Path, env_files: Sequence[Path] = ()) -> dict[str, str]:
    """The old gateway's variables: `.env` beside and inside its data directory, then the
    files given (later ones win)."""
    env: dict[str, str] = {}
    for path in (root.parent / ".env", root / ".env", *env_files):
        if path.is_file():
            env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return env


def named_stores(env: dict[str, str], urls: Sequence[str]) -> list[tuple[str, str, str]]:
    """(kind, url, where it was named) of every store to read."""
    out: list[tuple[str, str, str]] = []
    raw = next((env[n] for n in _KIND_NAMES if env.get(n, "").strip()), "").strip().lower()
    kind = _KINDS.get(raw)
    if kind is not None:
        name = next((n for n in _URLS[kind] if env.get(n, "").strip()), None)
        if name is None:
            raise MigrationError(f"the old environment selects storage {raw!r} but sets none "
                                 f"of {', '.join(_URLS[kind])}")
        out.append((kind, env[name].strip(), name))
    for url in urls:
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        kind = "redis" if scheme in ("redis", "rediss") else _KINDS.get(scheme)
        if kind is None:
            raise MigrationError(f"--source-url: unsupported scheme {scheme!r} "
                                 "(redis://, mysql://, postgresql://)")
        out.append((kind, url, "--source-url"))
    return out


# ---------------------------------------------------------------------- reading the stores
def _accounts_from(label: str, tables: set[str], columns: set[str],
                   select_all: Callable[[str], list[dict[str, Any]]], plan: MigrationPlan) -> None:
    """The accounts of an `accounts` table, by its layout: this gateway's own (a
    `schema_version` table beside it) or v2-py's (a JSON column per quota mode)."""
    from state.models import AccountRow
    from state.store import row_to_account

    if "accounts" not in tables:
        plan.errors.append(f"{label}: no accounts table")
    elif "schema_version" in tables:
        found = Found(label)
        for i, row in enumerate(select_all("accounts")):
            found.add(lambda r=row: row_to_account(AccountRow(**r)), f"{label}: row {i + 1}")
        plan.account_sources.append(found)
    elif "quota_fast" in columns or "quota_auto" in columns:
        plan.account_sources.append(read_v2_rows(select_all("accounts"), label))
    else:
        plan.errors.append(f"{label}: an accounts table of a layout this version does not know; "
                           "export the accounts as token.json from the old admin page and "
                           "migrate that")


def _read_sql(url: str, label: str, plan: MigrationPlan,
              configs: list[tuple[str, dict[str, Any]]]) -> None:
    """A MySQL / PostgreSQL store named by the old environment."""
    from state.db import open_url

    db = open_url(url, pool_size=1)

    def select_all(table: str) -> list[dict[str, Any]]:
        cursor = db.execute_sql(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    try:
        db.connect()
        tables = set(db.get_tables())
        if "config_store" in tables:
            rows = select_all("config_store")
            configs.append((f"{label} config_store",
                            _config_rows([(r.get("key"), r.get("value")) for r in rows])))
        columns = {c.name for c in db.get_columns("accounts")} if "accounts" in tables else set()
        _accounts_from(label, tables, columns, select_all, plan)
    finally:
        db.close()
        close_all = getattr(db, "close_all", None)
        if close_all is not None:
            close_all()


def _read_sqlite(path: Path, plan: MigrationPlan) -> None:
    """An `accounts.db`, opened read-only: the old file is never changed (not even its
    journal mode)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {r[1] for r in con.execute("PRAGMA table_info(accounts)")}
        _accounts_from("accounts.db", tables, columns,
                       lambda t: [dict(r) for r in con.execute(f"SELECT * FROM {t}")], plan)
    finally:
        con.close()


def _config_rows(rows: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in rows:
        key = str(key)
        if "." not in key or key.startswith("_"):
            continue  # the store's version row
        try:
            flat[key] = orjson.loads(value) if isinstance(value, (str, bytes)) else value
        except orjson.JSONDecodeError:
            flat[key] = value
    return flat


def _read_redis(url: str, label: str, plan: MigrationPlan,
                configs: list[tuple[str, dict[str, Any]]]) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        v2_config = client.hgetall("config:user")
        if v2_config:
            configs.append((f"{label} config:user", _config_rows(
                [(k.decode(), v) for k, v in v2_config.items()])))
        fork_config = client.hgetall("grok2api:config")
        if fork_config:
            tree: dict[str, Any] = {}
            for k, v in fork_config.items():
                try:
                    tree[k.decode()] = orjson.loads(v)
                except orjson.JSONDecodeError:
                    tree[k.decode()] = v.decode("utf-8", "replace")
            configs.append((f"{label} grok2api:config", flatten(tree)))
        v2 = read_v2_redis(client, f"{label} (v2 layout)")
        fork = read_fork_redis(client, f"{label} (fork layout)")
        for found in (v2, fork):
            if found.accounts or found.problems:
                plan.account_sources.append(found)
        if not (v2.accounts or fork.accounts or v2.problems or fork.problems):
            plan.errors.append(f"{label}: no accounts in either Redis layout")
    finally:
        client.close()


def _read_local(root: Path, boot: BootConfig, plan: MigrationPlan) -> None:
    token_json = root / "token.json"
    if token_json.is_file():
        plan.found.append("token.json")
        try:
            data = orjson.loads(token_json.read_bytes())
        except orjson.JSONDecodeError as exc:
            plan.errors.append(f"token.json: invalid JSON ({exc})")
        else:
            plan.account_sources.append(read_token_json(data))
    accounts_db = root / "accounts.db"
    if accounts_db.is_file():
        same = (boot.database_url is None
                and accounts_db.resolve() == Path(boot.account_local_path).resolve())
        kind = _sqlite_kind(accounts_db)
        if same and kind == "own":
            plan.found.append("accounts.db (this gateway's database: the target itself)")
            return
        if same:
            raise MigrationError(
                f"{accounts_db} is an older gateway's database at the very place this gateway "
                "keeps its own. Move the old folder aside and migrate from there, e.g. "
                f"`mv {root} {root}-old && grok2api migrate {root}-old`")
        plan.found.append(f"accounts.db ({'this gateway' if kind == 'own' else 'v2-py'} "
                          "SQLite)")
        _read_sqlite(accounts_db, plan)


def _sqlite_kind(path: Path) -> str:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    return "own" if "schema_version" in names else "v2"


def _read_configs(root: Path, plan: MigrationPlan,
                  configs: list[tuple[str, dict[str, Any]]]) -> None:
    for name in ("config.toml", "setting.toml"):
        path = root / name
        if not path.is_file():
            continue
        plan.found.append(name)
        try:
            configs.append((name, flatten(tomllib.loads(path.read_text("utf-8-sig")))))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            plan.errors.append(f"{name}: not valid TOML ({exc})")


# ---------------------------------------------------------------------- the plan
def make_plan(root: Path, boot: BootConfig, *, env_files: Sequence[Path] = (),
              source_urls: Sequence[str] = ()) -> MigrationPlan:
    """Read FROM_DIR and the target; decide every change. Writes nothing."""
    from state.declarers import declared_options

    if not root.is_dir():
        raise MigrationError(f"{root}: not a directory")
    plan = MigrationPlan(root)
    env = old_environment(root, env_files)
    stores = named_stores(env, source_urls)
    configs: list[tuple[str, dict[str, Any]]] = []
    _read_local(root, boot, plan)
    for kind, url, where in stores:
        label = f"{kind} store ({where})"
        plan.found.append(label)
        try:
            if kind == "redis":
                _read_redis(url, label, plan, configs)
            else:
                _read_sql(url, label, plan, configs)
        except Exception as exc:  # noqa: BLE001 - a store we cannot read is reported, not fatal
            from state.db_check import describe_error

            plan.errors.append(f"{label}: {describe_error(exc, url, where)}")
    _read_configs(root, plan, configs)
    keys_path = root / "api_keys.json"
    if keys_path.is_file():
        plan.found.append("api_keys.json")
        try:
            plan.keys = read_api_keys(orjson.loads(keys_path.read_bytes()))
        except orjson.JSONDecodeError as exc:
            plan.errors.append(f"api_keys.json: invalid JSON ({exc})")
    if (root / "api_key_usage.json").is_file():
        plan.dropped.append(("api_key_usage.json", "(daily usage)",
                             "the fork counted days in UTC+8, this gateway in UTC: the key "
                             "counters start at zero"))
    plan.media = plan_media(root, boot.data_dir)
    plan.found.extend(f"{folder}/ (cached media)" for folder in plan.media.folders)
    _plan_config(plan, configs, boot, declared_options())
    _plan_target(plan, boot)
    return plan


def _plan_config(plan: MigrationPlan, configs: list[tuple[str, dict[str, Any]]],
                 boot: BootConfig, declared: dict[str, Any]) -> None:
    target_path = Path(boot.config_local_path)
    try:
        target = flatten(tomllib.loads(target_path.read_text("utf-8-sig"))) \
            if target_path.is_file() else {}
    except tomllib.TOMLDecodeError as exc:
        raise MigrationError(f"{target_path}: not valid TOML ({exc}); fix it first") from None
    taken: set[str] = set()
    for source, flat in configs:  # the store, then config.toml, then setting.toml
        mapping: ConfigMapping = map_config(flat, declared)
        for item in mapping.dropped:
            plan.dropped.append((source, item.old, item.reason))
        for item in mapping.mapped:
            option = declared[item.new]
            value = option.storable(item.value)
            if item.new in taken:
                action = "shadowed"
            elif item.new in target:
                same = _parsed(option, target[item.new]) == option.parse(value)
                action = "same" if same else "kept"
            elif option.parse(value) == option.parse(option.default):
                action = "default"
            else:
                action = "write"
            taken.add(item.new)
            plan.config.append(ConfigLine(item.old, item.new, value, source, action))


def _parsed(option: Any, raw: Any) -> Any:
    try:
        return option.parse(raw)
    except ValueError:
        return object()


def _plan_target(plan: MigrationPlan, boot: BootConfig) -> None:
    """Which accounts and keys the target already holds."""
    candidates: dict[str, Account] = {}
    for found in plan.account_sources:
        for acc in found.accounts:
            candidates.setdefault(acc.token, acc)  # the first store that has it wins
    records = plan.keys.records if plan.keys else []
    tokens, hashes = _target_holds(boot, list(candidates), [r.key_hash for r in records])
    plan.accounts_new = [a for t, a in candidates.items() if t not in tokens]
    plan.accounts_present = len(candidates) - len(plan.accounts_new)
    unique: dict[str, Any] = {}
    for rec in records:
        unique.setdefault(rec.key_hash, rec)
    plan.keys_new = [r for h, r in unique.items() if h not in hashes]
    plan.keys_present = [r.name for h, r in unique.items() if h in hashes]


def _open_target(boot: BootConfig) -> tuple[Any, Any]:
    """The target database and its thread (the caller closes the thread); a database that
    cannot be used is a MigrationError saying why."""
    from state.db_check import DatabaseUnavailable, open_checked
    from state.dbthread import DBThread

    try:
        db = open_checked(boot)
    except DatabaseUnavailable as exc:
        raise MigrationError(str(exc)) from None
    return db, DBThread(db)


def _target_holds(boot: BootConfig, tokens: list[str], hashes: list[str]
                  ) -> tuple[set[str], set[str]]:
    if boot.database_url is None and not Path(boot.account_local_path).is_file():
        return set(), set()  # a fresh data directory: nothing there yet (and none created)
    from state.migrations import current_version

    db, thread = _open_target(boot)
    try:
        if thread.run_sync(current_version, db) == 0:
            return set(), set()
        return thread.run_sync(_held, tokens, hashes)
    finally:
        thread.close()


def _held(tokens: list[str], hashes: list[str]) -> tuple[set[str], set[str]]:
    import peewee

    from state.models import AccountRow, ClientKeyRow

    held_tokens: set[str] = set()
    for chunk in peewee.chunked(tokens, 500):
        held_tokens |= {r.token for r in AccountRow.select(AccountRow.token)
                        .where(AccountRow.token.in_(chunk))}
    held_hashes: set[str] = set()
    if ClientKeyRow._meta.database.table_exists(ClientKeyRow._meta.table_name):
        for chunk in peewee.chunked(hashes, 500):
            held_hashes |= {r.key_hash for r in ClientKeyRow.select(ClientKeyRow.key_hash)
                            .where(ClientKeyRow.key_hash.in_(chunk))}
    return held_tokens, held_hashes


# ---------------------------------------------------------------------- applying
def apply_plan(plan: MigrationPlan, boot: BootConfig) -> dict[str, int]:
    """Write what the plan decided; returns the counts written."""
    from state.migrations import migrate
    from state.settings import Settings

    written = {"config": 0, "accounts": 0, "keys": 0, "media": 0}
    writes = plan.config_writes()
    if writes:
        Settings(boot.config_local_path, environ={}).set_many(writes)
        written["config"] = len(writes)
    if plan.accounts_new or plan.keys_new:
        boot.ensure_data_dir()
        db, thread = _open_target(boot)
        try:
            thread.run_sync(migrate, db)
            written["accounts"], written["keys"] = thread.run_sync(
                _write, db, plan.accounts_new, plan.keys_new)
        finally:
            thread.close()
    written["media"] = apply_media(plan.media, boot.data_dir)
    return written


def _write(db: Any, accounts: list[Account], keys: list[Any]) -> tuple[int, int]:
    """On the database thread: the accounts and keys not there yet (checked again, so a
    second run or a concurrent import never overwrites)."""
    from state.keys_store import insert_keys
    from state.store import AccountStore

    tokens, hashes = _held([a.token for a in accounts], [k.key_hash for k in keys])
    new_accounts = [a for a in accounts if a.token not in tokens]
    new_keys = [k for k in keys if k.key_hash not in hashes]
    if new_accounts:
        AccountStore(db).save(new_accounts)
    if new_keys:
        insert_keys(new_keys)
    return len(new_accounts), len(new_keys)


# ---------------------------------------------------------------------- the report
def shown(key: str, value: Any) -> Any:
    """A config value as the report may show it (secrets masked)."""
    if key in _SECRETS:
        return mask_setting(key, value) if key in SECRET_OPTIONS else "********"
    return value


def report(plan: MigrationPlan, written: dict[str, int] | None) -> dict[str, Any]:
    by_pool: dict[str, int] = {}
    for acc in plan.accounts_new:
        by_pool[acc.pool] = by_pool.get(acc.pool, 0) + 1
    return {
        "from": str(plan.root),
        "applied": written is not None,
        "found": plan.found,
        "config": [{"old": c.old, "new": c.new, "value": shown(c.new, c.value),
                    "source": c.source, "action": c.action} for c in plan.config],
        "config_dropped": [{"source": s, "old": k, "reason": r} for s, k, r in plan.dropped],
        "accounts": {
            "sources": [{"source": f.source, "read": len(f.accounts), "problems": f.problems}
                        for f in plan.account_sources],
            "new": len(plan.accounts_new), "new_by_pool": by_pool,
            "already_there": plan.accounts_present},
        "keys": {"new": [k.name for k in plan.keys_new], "already_there": plan.keys_present,
                 "problems": plan.keys.problems if plan.keys else []},
        "media": {"new": {kind: sum(1 for m in plan.media.copy if m.kind == kind)
                          for kind in ("image", "video")},
                  "new_bytes": sum(m.size for m in plan.media.copy),
                  "already_there": plan.media.present,
                  "skipped": [{"file": f, "reason": r} for f, r in plan.media.skipped]},
        "errors": plan.errors,
        "changes": plan.changes(),
        "written": written,
    }
