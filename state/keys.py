"""Managed client keys: the record, its policy, and how a key is hashed and shown.

A key is stored as the SHA-256 of its value, never in clear: the value is shown once, in the
answer that creates it. Lists show `display_key` (first 6 + `...` + last 4). The policy says
what the key may do: the models it may name (empty = all), requests per minute, concurrent
requests, daily quotas per kind (chat, heavy, image, video) and in tokens, the accounts that
may serve it (pools and tags) and whether media may be NSFW. Absent numbers are unlimited.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

__all__ = ["KINDS", "LIMIT_NAMES", "KeyPolicy", "KeyRecord", "Scope", "display_key",
           "generate_key", "hash_key", "new_key_id", "now_ms"]

#: What a request is charged as, per day: chat, heavy (the heavy-mode chat models; also a
#: chat), image (per image asked for), video; tokens are counted when the request ends.
KINDS: tuple[str, ...] = ("chat", "heavy", "image", "video")
#: The daily limits, as the admin API names them (`limits.<kind>_per_day`).
LIMIT_NAMES: tuple[str, ...] = ("chat", "heavy", "image", "video", "tokens")
KEY_PREFIX = "sk-"


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """`sk-` and 32 URL-safe characters (192 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def display_key(key: str) -> str:
    """First 6 + `...` + last 4 characters; a key of 12 characters or fewer shows only its
    first 2 (showing both ends of a short key would show most of it)."""
    if len(key) > 12:
        return f"{key[:6]}...{key[-4:]}"
    return f"{key[:2]}..."


@dataclass(frozen=True, slots=True)
class Scope:
    """The accounts that may serve a key: in one of `pools` (empty = any pool) and carrying
    one of `tags` (empty = any account)."""

    pools: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.pools or self.tags)

    def to_dict(self) -> dict[str, list[str]]:
        return {"pools": sorted(self.pools), "tags": sorted(self.tags)}


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    models: tuple[str, ...] = ()  # allow-list; empty = every model
    rpm: int | None = None
    max_concurrency: int | None = None
    #: per-day limits by `LIMIT_NAMES`; a missing name is unlimited
    limits: dict[str, int] = field(default_factory=dict)
    scope: Scope = Scope()
    nsfw: bool = True  # media may be NSFW (when `features.enable_nsfw` allows it too)

    def limit(self, name: str) -> int | None:
        return self.limits.get(name)

    def to_json(self) -> str:
        return orjson.dumps({
            "models": list(self.models), "rpm": self.rpm,
            "max_concurrency": self.max_concurrency, "limits": self.limits,
            "scope": self.scope.to_dict(), "nsfw": self.nsfw}).decode()

    @classmethod
    def from_json(cls, raw: str | None) -> KeyPolicy:
        data: dict[str, Any] = orjson.loads(raw or "{}")
        scope = data.get("scope") or {}
        limits = {k: int(v) for k, v in (data.get("limits") or {}).items()
                  if k in LIMIT_NAMES and v is not None and int(v) >= 0}
        return cls(models=tuple(data.get("models") or ()), rpm=_opt_int(data.get("rpm")),
                   max_concurrency=_opt_int(data.get("max_concurrency")), limits=limits,
                   scope=Scope(frozenset(scope.get("pools") or ()),
                               frozenset(scope.get("tags") or ())),
                   nsfw=bool(data.get("nsfw", True)))


def _opt_int(value: Any) -> int | None:
    return None if value is None or int(value) < 0 else int(value)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    key_hash: str
    display_key: str
    enabled: bool = True
    policy: KeyPolicy = KeyPolicy()
    created_at: int = 0  # ms
    updated_at: int = 0
    last_used_at: int | None = None
    expires_at: int | None = None  # ms
    revision: int = 0

    def expired(self, now: int | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now_ms() if now is None
                                                                   else now)

    def with_changes(self, **changes: Any) -> KeyRecord:
        return replace(self, **changes)
