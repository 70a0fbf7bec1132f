"""Pure helpers for settings: flattening, value coercion, validation and legacy keys.

Kept apart from `settings.py` so the rules can be read (and tested) without any file I/O.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

#: Keys whose value must be one of a fixed set.
ENUMS: dict[str, frozenset[str]] = {
    "features.image_format": frozenset({"grok_url", "local_url", "grok_md", "local_md", "base64"}),
    "features.video_format": frozenset({"grok_url", "local_url", "grok_html", "local_html"}),
    "proxy.egress.mode": frozenset({"direct", "single_proxy", "proxy_pool"}),
    "proxy.clearance.mode": frozenset({"none", "manual", "flaresolverr"}),
    "upstream.chat_transport": frozenset({"rest", "ws"}),
}

#: Keys documented as "a string or a list" (AUTH-1, §8.7): both shapes are accepted by `set`.
STRING_OR_LIST = frozenset({"app.api_key", "retry.on_codes", "retry.retry_status_codes"})

LIST_SPLIT_RE = re.compile(r"[,\r\n]+")


class SettingsError(ValueError):
    """An invalid key or value; the message always names the key."""


@dataclass(frozen=True, slots=True)
class Legacy:
    """A key older config files use. `wins`: a non-empty legacy value beats the canonical key
    even when both are set (the flat `proxy.*` keys, written by cookie-refresher sidecars)."""

    target: str
    wins: bool
    convert: Callable[[Any], Any] = lambda v: v


def _csv(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v).strip() for v in value)
    return value


LEGACY: dict[str, Legacy] = {
    "proxy.cf_cookies": Legacy("proxy.clearance.cf_cookies", True),
    "proxy.user_agent": Legacy("proxy.clearance.user_agent", True),
    "proxy.browser": Legacy("proxy.clearance.browser", True),
    "retry.retry_status_codes": Legacy("retry.on_codes", False, _csv),
    "token.save_delay_ms": Legacy("account.save_delay_ms", False),
    "token.fail_threshold": Legacy("account.fail_threshold", False),
}
#: Folded into `proxy.clearance.cf_cookies` as `cf_clearance=<value>`; the flat key wins.
CF_CLEARANCE_KEYS = ("proxy.cf_clearance", "proxy.clearance.cf_clearance")
LEGACY_KEYS = frozenset(LEGACY) | frozenset(CF_CLEARANCE_KEYS)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaf values of nested tables under dotted keys (arrays are leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dict from dotted keys; a leaf never gets replaced by a table or vice versa."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


def split_list(value: Any) -> list[Any]:
    """A comma/newline-separated string or an array → trimmed, non-empty items."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in LIST_SPLIT_RE.split(value) if p.strip()]
    if isinstance(value, (list, tuple)):
        items = [v.strip() if isinstance(v, str) else v for v in value]
        return [v for v in items if v != "" and v is not None]
    return [value]


def parse_bool(raw: str) -> bool | None:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def coerce_env(raw: str, default: Any) -> Any:
    """An env string → the default's type; raises ValueError when it cannot be converted.

    Booleans follow the typed getters (1/true/yes/on → true, anything else false)."""
    if isinstance(default, bool):
        return raw.strip().lower() in TRUE_WORDS
    if isinstance(default, int):
        return int(raw.strip())
    if isinstance(default, float):
        return float(raw.strip())
    if isinstance(default, list):
        return _list_of(split_list(raw), default, "env")
    return raw


def _list_of(items: list[Any], default: list[Any], key: str) -> list[Any]:
    """Items converted to ints when the default array holds ints (`[403]`)."""
    if default and all(isinstance(d, int) and not isinstance(d, bool) for d in default):
        try:
            return [int(str(i).strip()) for i in items]
        except ValueError:
            raise SettingsError(f"{key}: expected a list of integers, got {items!r}") from None
    return [str(i) if not isinstance(i, str) else i for i in items]


def validate(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the default's type (strings parsed for ints, floats, bools,
    lists) and the enums; returns the value to store."""
    if key in ENUMS:
        if not isinstance(value, str) or value.strip() not in ENUMS[key]:
            allowed = " | ".join(sorted(ENUMS[key]))
            raise SettingsError(f"{key}: must be one of {allowed}, got {value!r}")
        return value.strip()
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and (parsed := parse_bool(value)) is not None and value.strip():
            return parsed
        raise SettingsError(f"{key}: expected true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{key}: expected an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{key}: expected a number, got {value!r}")
    if isinstance(default, list):
        if isinstance(value, str):
            value = _parse_array_literal(value, key)
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"{key}: expected a list, got {value!r}")
        return _list_of(split_list(list(value)), default, key)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        if key in STRING_OR_LIST and isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value if str(v).strip()]
        if key in STRING_OR_LIST and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise SettingsError(f"{key}: expected a string, got {value!r}")
    raise SettingsError(f"{key}: cannot be set (unsupported type {type(default).__name__})")


def _parse_array_literal(text: str, key: str) -> list[Any]:
    """`[403, 429]` / `["a", "b"]` as TOML, otherwise a comma/newline-separated string."""
    stripped = text.strip()
    if stripped.startswith("["):
        import tomllib

        try:
            return list(tomllib.loads(f"v = {stripped}")["v"])
        except (tomllib.TOMLDecodeError, TypeError):
            raise SettingsError(f"{key}: not a valid array literal: {text!r}") from None
    return split_list(text)


def fold_cf_clearance(cookies: str, clearance: str) -> str:
    """`cf_clearance=<value>` put into a cookie string (replacing an existing one)."""
    clearance = "".join(clearance.split())
    clearance = clearance.removeprefix("cf_clearance=")
    pattern = re.compile(r"(^|;\s*)cf_clearance=[^;]*")
    if pattern.search(cookies):
        return pattern.sub(lambda m: f"{m.group(1)}cf_clearance={clearance}", cookies, count=1)
    return f"{cookies}; cf_clearance={clearance}" if cookies.strip() else f"cf_clearance={clearance}"
