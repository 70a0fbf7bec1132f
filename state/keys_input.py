"""What an operator sends about a client key (admin API body, CLI options) → a key record.

Both front ends speak the admin API's shape: `name`, `key`, `is_active`, `limits`
(`chat_per_day`, `heavy_per_day`, `image_per_day`, `video_per_day`, `tokens_per_day`; the
fork's flat `chat_limit` … `video_limit` are accepted too), `models`, `rpm`,
`max_concurrency`, `expires_at` (unix seconds), `scope` (`{"pools": [...], "tags": [...]}`)
and `nsfw`. A number of -1, null or "" is unlimited (below -1 counts as -1). A bad value is a
`KeyInputError` naming its field.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from state.account import POOLS
from state.keys import (
    LIMIT_NAMES, KeyPolicy, KeyRecord, Scope, display_key, generate_key, hash_key, new_key_id,
    now_ms,
)

__all__ = ["KeyInputError", "key_view", "new_record", "changed_record"]

#: A key an operator chooses: printable ASCII without spaces.
_KEY_RE = re.compile(r"^[!-~]{8,256}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_NAME = 191
MAX_MODELS = 500
FLAT_LIMITS = {"chat_limit": "chat", "heavy_limit": "heavy", "image_limit": "image",
               "video_limit": "video"}

#: A model id as the catalogue knows it (aliases resolved), or None for an unknown one.
ModelCheck = Callable[[str], "str | None"]


class KeyInputError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = f"{param}: {message}"


def _limit(value: Any, param: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value)
        else:
            raise KeyInputError(param, "expected an integer (-1, null or empty = unlimited)")
    if value > 2**53:
        raise KeyInputError(param, "too large")
    return None if value < 0 else value


def _bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise KeyInputError(param, "expected true or false")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KeyInputError("name", "expected a non-empty string")
    if len(value.strip()) > MAX_NAME:
        raise KeyInputError("name", f"at most {MAX_NAME} characters")
    return value.strip()


def _models(value: Any, check: ModelCheck | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list) or len(value) > MAX_MODELS:
        raise KeyInputError("models", f"expected a list of model ids (at most {MAX_MODELS})")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise KeyInputError(f"models[{i}]", "expected a model id")
        model = item.strip()
        if check is not None:
            known = check(model)
            if known is None:
                raise KeyInputError(f"models[{i}]", f"unknown model {model[:80]!r}")
            model = known
        out.append(model)
    return tuple(dict.fromkeys(out))


def _scope(value: Any) -> Scope:
    if value is None:
        return Scope()
    if not isinstance(value, Mapping):
        raise KeyInputError("scope", 'expected {"pools": [...], "tags": [...]}')
    pools, tags = value.get("pools") or [], value.get("tags") or []
    if isinstance(pools, str):
        pools = [p for p in (x.strip() for x in pools.split(",")) if p]
    if isinstance(tags, str):
        tags = [t for t in (x.strip() for x in tags.split(",")) if t]
    if not isinstance(pools, list):
        raise KeyInputError("scope.pools", "expected a list of pools")
    if not isinstance(tags, list):
        raise KeyInputError("scope.tags", "expected a list of tags")
    for i, pool in enumerate(pools):
        if pool not in POOLS:
            raise KeyInputError(f"scope.pools[{i}]", f"expected one of {', '.join(POOLS)}")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            raise KeyInputError(f"scope.tags[{i}]", "expected a tag (letters, digits, . _ : -)")
    return Scope(frozenset(pools), frozenset(tags))


def _expires(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or value > 2**40:
        raise KeyInputError("expires_at", "expected unix seconds or null")
    return int(value * 1000)


def _policy(body: Mapping[str, Any], base: KeyPolicy, check: ModelCheck | None) -> KeyPolicy:
    limits = dict(base.limits)
    raw = body.get("limits", ...)
    if raw is not ... and raw is not None:
        if not isinstance(raw, Mapping):
            raise KeyInputError("limits", "expected an object of <kind>_per_day numbers")
        for name in LIMIT_NAMES:
            field = f"{name}_per_day"
            if field in raw:
                value = _limit(raw[field], f"limits.{field}")
                if value is None:
                    limits.pop(name, None)
                else:
                    limits[name] = value
    for field, name in FLAT_LIMITS.items():
        if field in body:
            value = _limit(body[field], field)
            if value is None:
                limits.pop(name, None)
            else:
                limits[name] = value
    rpm, conc = base.rpm, base.max_concurrency
    if "rpm" in body:
        rpm = _limit(body["rpm"], "rpm")
    if "max_concurrency" in body:
        conc = _limit(body["max_concurrency"], "max_concurrency")
    models = _models(body["models"], check) if "models" in body else base.models
    scope = _scope(body["scope"]) if "scope" in body else base.scope
    nsfw = _bool(body["nsfw"], "nsfw") if body.get("nsfw") is not None else base.nsfw
    return KeyPolicy(models=models, rpm=rpm, max_concurrency=conc, limits=limits, scope=scope,
                     nsfw=nsfw)


def new_record(body: Mapping[str, Any], check: ModelCheck | None = None) -> tuple[KeyRecord, str]:
    """A key to create, and its value (given as `key`, else generated)."""
    key = body.get("key")
    if key is None or key == "":
        key = generate_key()
    elif not isinstance(key, str) or not _KEY_RE.match(key):
        raise KeyInputError("key", "expected 8 to 256 printable characters without spaces")
    name = _name(body["name"]) if body.get("name") not in (None, "") \
        else f"key-{secrets.token_hex(4)}"
    enabled = _bool(body["is_active"], "is_active") if body.get("is_active") is not None \
        else True
    ts = now_ms()
    record = KeyRecord(id=new_key_id(), name=name, key_hash=hash_key(key),
                       display_key=display_key(key), enabled=enabled,
                       policy=_policy(body, KeyPolicy(), check), created_at=ts, updated_at=ts,
                       expires_at=_expires(body.get("expires_at")))
    return record, key


def changed_record(record: KeyRecord, body: Mapping[str, Any],
                   check: ModelCheck | None = None) -> KeyRecord:
    """`record` with what `body` changes (absent fields stay)."""
    changes: dict[str, Any] = {"policy": _policy(body, record.policy, check)}
    if body.get("name") not in (None, ""):
        changes["name"] = _name(body["name"])
    if body.get("is_active") is not None:
        changes["enabled"] = _bool(body["is_active"], "is_active")
    if "expires_at" in body:
        changes["expires_at"] = _expires(body["expires_at"])
    return record.with_changes(**changes)


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def key_view(record: KeyRecord, used: Mapping[str, int], day: str,
             now: int | None = None) -> dict[str, Any]:
    """A key as the admin API and the CLI show it (never its value)."""
    policy = record.policy
    limits = {f"{n}_per_day": policy.limit(n) for n in LIMIT_NAMES}
    remaining = {n: (None if (lim := policy.limit(n)) is None
                     else max(0, lim - int(used.get(n, 0)))) for n in LIMIT_NAMES}
    expired = record.expired(now)
    return {
        "id": record.id, "name": record.name, "display_key": record.display_key,
        "is_active": record.enabled, "expired": expired,
        "status": "expired" if expired else "active" if record.enabled else "disabled",
        "created_at": _seconds(record.created_at), "updated_at": _seconds(record.updated_at),
        "last_used_at": _seconds(record.last_used_at),
        "expires_at": _seconds(record.expires_at),
        "limits": limits,
        **{flat: -1 if policy.limit(name) is None else policy.limit(name)
           for flat, name in FLAT_LIMITS.items()},
        "models": list(policy.models), "rpm": policy.rpm,
        "max_concurrency": policy.max_concurrency, "scope": policy.scope.to_dict(),
        "nsfw": policy.nsfw,
        "usage_today": {f"{n}_used": int(used.get(n, 0)) for n in LIMIT_NAMES},
        "remaining_today": remaining, "day": day,
    }
