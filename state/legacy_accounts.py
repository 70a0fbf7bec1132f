"""Reading the account stores of the older FastAPI gateways into today's `Account`.

Generations (api-surface §8.10):

* v2-py: the table `accounts` (SQLite `accounts.db`, or the same table on MySQL/PostgreSQL),
  one JSON column per quota mode (`quota_auto`, `quota_fast`, …, `quota_grok_4_3`), and the
  Redis hashes `accounts:record:<token>` with the same fields as strings;
* v1.x and the fork: `token.json` by pool (`ssoBasic`, `ssoSuper`; lists of token objects
  with `status`, `quota`, `heavy_quota`, `note`, `tags`, counters), and their Redis layout
  (`grok2api:pool:<pool>` sets of ids, `grok2api:token:<id>` hashes);
* v0: `token.json` with pools (`ssoNormal`, `ssoSuper`) as objects keyed by token.

Every converted account keeps its status, counters, tags, note, soft delete and quota windows
(v2-py); the fork's single shared quota is a different model, so its windows start at the tier
defaults (the first refresh fixes them) and its numbers are kept in `ext.legacy_quota`. What
cannot be read (a bad token, an unknown pool) is reported, never guessed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from state.account import (
    STATUSES, Account, QuotaWindow, default_quota, now_ms, to_ms,
)
from state.importing import check_token

__all__ = ["Found", "from_fork_item", "from_v2_record", "read_fork_redis", "read_token_json",
           "read_v2_redis", "read_v2_rows"]

#: v2-py quota column suffix → today's mode name
V2_MODES = {"auto": "auto", "fast": "fast", "expert": "expert", "heavy": "heavy",
            "grok_4_3": "grok-420-computer-use-sa"}
_POOL_NAMES = {"ssobasic": "basic", "ssonormal": "basic", "sso": "basic", "basic": "basic",
               "normal": "basic", "ssosuper": "super", "super": "super", "supersso": "super",
               "ssoheavy": "heavy", "heavy": "heavy"}
_STATUS_NAMES = {"invalid": "expired", "exhausted": "active", "cooldown": "cooling"}


@dataclass(slots=True)
class Found:
    """The accounts read from one store, and what could not be read there."""

    source: str
    accounts: list[Account] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, build: Any, where: str) -> None:
        try:
            self.accounts.append(build())
        except (ValueError, TypeError, KeyError) as exc:
            self.problems.append(f"{where}: {exc}")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    text = _text(value).strip()
    if not text or text.lower() == "none":
        return default
    return int(float(text))


def _time(value: Any) -> int | None:
    """A time in ms, s or ISO-less text; None when absent."""
    text = _text(value).strip()
    if not text or text.lower() == "none" or text in ("0", "-1"):
        return None
    return to_ms(float(text))


def _json(value: Any, default: Any) -> Any:
    if isinstance(value, type(default)):
        return value
    text = _text(value).strip()
    if not text:
        return default
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return default
    return parsed if isinstance(parsed, type(default)) else default


def pool_name(raw: Any) -> str:
    name = _POOL_NAMES.get(_text(raw).strip().lower())
    if name is None:
        raise ValueError(f"unknown pool {_text(raw)[:40]!r}")
    return name


def _status(raw: Any) -> str:
    word = _text(raw).strip().lower() or "active"
    word = _STATUS_NAMES.get(word, word)
    return word if word in STATUSES else "active"


def _tags(raw: Any) -> list[str]:
    if isinstance(raw, str) and not raw.strip().startswith("["):
        items: list[Any] = [t for t in (p.strip() for p in raw.split(",")) if t]
    else:
        items = _json(raw, [])
    return list(dict.fromkeys(str(t) for t in items if str(t).strip()))


def _finish(acc: Account) -> Account:
    """Windows of modes the tier lacks dropped, missing ones at the tier default."""
    quota = default_quota(acc.pool)
    quota.update({m: w for m, w in acc.quota.items() if m in quota})
    acc.quota = quota
    cooldown = acc.ext.get("cooldown_until")
    if acc.cooldown_until is None and isinstance(cooldown, (int, float)) and cooldown > 0:
        acc.cooldown_until = to_ms(cooldown)
    return acc


def from_v2_record(token: Any, data: Mapping[str, Any]) -> Account:
    """A v2-py account (a row of `accounts` or a Redis hash, values as stored)."""
    tok = check_token(_text(token))
    pool = pool_name(data.get("pool") or "basic")
    quota: dict[str, QuotaWindow] = {}
    nested = _json(data.get("quota"), {})
    for suffix, mode in V2_MODES.items():
        window = _json(data.get(f"quota_{suffix}"), {}) or nested.get(suffix) or {}
        if isinstance(window, dict) and window:
            quota[mode] = QuotaWindow.from_dict(window)
    ext = _json(data.get("ext"), {})
    clear = _time(data.get("last_clear_at"))
    if clear is not None:
        ext.setdefault("last_clear_at", clear)
    ts = now_ms()
    acc = Account(
        token=tok, pool=pool, status=_status(data.get("status")), quota=quota,
        usage_use_count=_int(data.get("usage_use_count")),
        usage_fail_count=_int(data.get("usage_fail_count")),
        usage_sync_count=_int(data.get("usage_sync_count")),
        last_use_at=_time(data.get("last_use_at")), last_fail_at=_time(data.get("last_fail_at")),
        last_fail_reason=_text(data.get("last_fail_reason")),
        last_sync_at=_time(data.get("last_sync_at")),
        state_reason=_text(data.get("state_reason")), tags=_tags(data.get("tags")),
        note=_text(data.get("note")), ext=ext,
        created_at=_time(data.get("created_at")) or ts,
        updated_at=_time(data.get("updated_at")) or ts,
        deleted_at=_time(data.get("deleted_at")))
    return _finish(acc)


def from_fork_item(item: Mapping[str, Any], pool: str, token: Any = None) -> Account:
    """A v1.x / fork / v0 token object of `pool` (already today's name)."""
    tok = check_token(_text(token if token is not None else item.get("token")))
    ts = now_ms()
    legacy = {k: _int(item.get(k), -1) for k in ("quota", "heavy_quota",
                                                   "remaining_queries", "heavy_remaining_queries")
              if item.get(k) not in (None, "")}
    ext: dict[str, Any] = {"legacy_quota": legacy} if legacy else {}
    asset_clear = _time(item.get("last_asset_clear_at"))
    if asset_clear is not None:
        ext["last_clear_at"] = asset_clear
    cooldown = _time(item.get("cooldown_until"))
    fails = _int(item.get("fail_count", item.get("failed_count")))
    acc = Account(
        token=tok, pool=pool, status=_status(item.get("status")),
        usage_use_count=_int(item.get("use_count", item.get("usage_use_count"))),
        usage_fail_count=fails, consecutive_failures=fails,
        last_use_at=_time(item.get("last_used_at", item.get("last_use_at"))),
        last_fail_at=_time(item.get("last_fail_at")),
        last_fail_reason=_text(item.get("last_fail_reason")),
        last_sync_at=_time(item.get("last_sync_at")),
        cooldown_until=cooldown, tags=_tags(item.get("tags")), note=_text(item.get("note")),
        ext=ext, created_at=_time(item.get("created_at", item.get("createdTime"))) or ts,
        updated_at=ts)
    if acc.status == "cooling" and cooldown is None:
        acc.status = "active"  # a cooldown without an end would never lift
    return _finish(acc)


def read_token_json(data: Any, source: str = "token.json") -> Found:
    """`token.json` of v0, v1.x or the fork: `{pool: [objects]}` or `{pool: {token: object}}`
    (a pool list may also hold bare token strings)."""
    found = Found(source)
    if not isinstance(data, dict):
        found.problems.append(f"{source}: expected an object by pool")
        return found
    for raw_pool, items in data.items():
        try:
            pool = pool_name(raw_pool)
        except ValueError as exc:
            found.problems.append(f"{source}: {exc}")
            continue
        entries: Iterable[tuple[str, Any, Any]]
        if isinstance(items, dict):
            entries = ((f"{raw_pool}[{i}]", tok, obj)
                       for i, (tok, obj) in enumerate(items.items()))
        elif isinstance(items, list):
            entries = ((f"{raw_pool}[{i}]", None, obj) for i, obj in enumerate(items))
        else:
            found.problems.append(f"{source}: {raw_pool}: expected a list or an object")
            continue
        for where, tok, obj in entries:
            if isinstance(obj, str):
                obj, tok = {}, obj
            if not isinstance(obj, dict):
                found.problems.append(f"{source}: {where}: expected a token object")
                continue
            found.add(lambda o=obj, t=tok: from_fork_item(o, pool, t), f"{source}: {where}")
    return found


def read_v2_rows(rows: Iterable[Mapping[str, Any]], source: str) -> Found:
    """Rows of v2-py's `accounts` table (SQLite, MySQL or PostgreSQL)."""
    found = Found(source)
    for i, row in enumerate(rows):
        found.add(lambda r=row: from_v2_record(r.get("token"), r), f"{source}: row {i + 1}")
    return found


def _hash(client: Any, key: Any) -> dict[str, Any]:
    return {_text(k): v for k, v in client.hgetall(key).items()}


def read_v2_redis(client: Any, source: str) -> Found:
    """v2-py's Redis store: `accounts:record:<token>` hashes."""
    found = Found(source)
    for key in sorted(client.scan_iter(match="accounts:record:*", count=500)):
        token = _text(key).split(":", 2)[2]
        data = _hash(client, key)
        found.add(lambda t=token, d=data: from_v2_record(t, d), f"{source}: {_label(token)}")
    return found


def read_fork_redis(client: Any, source: str) -> Found:
    """v1.x / the fork's Redis store: `grok2api:pool:<pool>` sets of token ids and a
    `grok2api:token:<id>` hash per token (values as strings, JSON for lists)."""
    found = Found(source)
    pools = {_text(p) for p in client.smembers("grok2api:pools")}
    pools |= {_text(k).split(":", 2)[2] for k in client.scan_iter(match="grok2api:pool:*")}
    for raw_pool in sorted(pools):
        try:
            pool = pool_name(raw_pool)
        except ValueError as exc:
            found.problems.append(f"{source}: {exc}")
            continue
        for token_id in sorted(_text(t) for t in client.smembers(f"grok2api:pool:{raw_pool}")):
            data = {k: _maybe_json(v) for k, v in _hash(client, f"grok2api:token:{token_id}").items()}
            if not data:
                found.problems.append(f"{source}: {raw_pool}: token id {token_id[:12]} has no hash")
                continue
            token = data.get("token") or token_id
            found.add(lambda d=data, t=token: from_fork_item(d, pool, t),
                      f"{source}: {raw_pool}: {_label(_text(token))}")
    return found


def _maybe_json(value: Any) -> Any:
    text = _text(value)
    if text[:1] in "[{":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def _label(token: str) -> str:
    """A token as a problem report may name it (never whole)."""
    return f"{token[:4]}…{token[-4:]}" if len(token) > 12 else "…"

