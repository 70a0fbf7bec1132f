"""Pure helpers for settings: flattening, list splitting and the older key names.

Kept apart from `settings.py` so the rules can be read (and tested) without any file I/O; the
checks of one value against its declaration live in `state/options.py`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

LIST_SPLIT_RE = re.compile(r"[,\r\n]+")


class SettingsError(ValueError):
    """An invalid key or value; the message always names the key."""


@dataclass(frozen=True, slots=True)
class Legacy:
    """A key older config files use for a declared option. `wins`: a non-empty legacy value
    beats the current key even when both are set (the flat `proxy.*` keys, which external
    cookie-refresher sidecars write). An alias is honoured only while its target is declared;
    otherwise it is reported as ignored like any key nothing reads."""

    target: str
    wins: bool


LEGACY: dict[str, Legacy] = {
    "proxy.cf_cookies": Legacy("proxy.clearance.cf_cookies", True),
    "proxy.user_agent": Legacy("proxy.clearance.user_agent", True),
    "proxy.browser": Legacy("proxy.clearance.browser", True),
    "retry.retry_status_codes": Legacy("retry.on_codes", False),
    "token.save_delay_ms": Legacy("account.save_delay_ms", False),
    "token.nsfw_refresh_concurrency": Legacy("batch.nsfw_concurrency", False),
}
#: Folded into `proxy.clearance.cf_cookies` as `cf_clearance=<value>`; the flat key wins.
CF_CLEARANCE_KEYS = ("proxy.cf_clearance", "proxy.clearance.cf_clearance")
CF_COOKIES_KEY = "proxy.clearance.cf_cookies"


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


def fold_cf_clearance(cookies: str, clearance: str) -> str:
    """`cf_clearance=<value>` put into a cookie string (replacing an existing one)."""
    clearance = "".join(clearance.split())
    clearance = clearance.removeprefix("cf_clearance=")
    pattern = re.compile(r"(^|;\s*)cf_clearance=[^;]*")
    if pattern.search(cookies):
        return pattern.sub(lambda m: f"{m.group(1)}cf_clearance={clearance}", cookies, count=1)
    return f"{cookies}; cf_clearance={clearance}" if cookies.strip() else f"cf_clearance={clearance}"
