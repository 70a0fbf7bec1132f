"""Layered runtime settings: shipped defaults ← user TOML ← `GROK_*` environment overrides.

Reads are a dict lookup on a flat cache (called on every request); the user file is re-read
only when its mtime/size changes, checked at most once a second. Writes go through tomlkit so
comments and ordering in the user's file survive, and are atomic (temp file + rename).
"""
from __future__ import annotations

import builtins
import logging
import os
import threading
import time
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import tomlkit
from tomlkit.exceptions import TOMLKitError

from state.config_values import (
    CF_CLEARANCE_KEYS,
    LEGACY,
    LEGACY_KEYS,
    TRUE_WORDS,
    SettingsError,
    coerce_env,
    flatten,
    fold_cf_clearance,
    split_list,
    unflatten,
    validate,
)
from state.tomlfile import assign, atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig

__all__ = ["Settings", "SettingsError", "load_defaults"]

log = logging.getLogger(__name__)
ENV_PREFIX = "GROK_"
Source = Literal["default", "file", "env"]
_MISSING = object()


@cache
def load_defaults() -> dict[str, Any]:
    """The shipped defaults as a flat dict (parsed once, on first use)."""
    text = resources.files("state").joinpath("defaults.toml").read_text(encoding="utf-8")
    return flatten(tomllib.loads(text))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def env_key(name: str, known: Mapping[str, str]) -> str:
    """`GROK_` stripped name → dotted key. `A__B__C` is a path; otherwise split at the first
    underscore (`APP_API_KEY` → `app.api_key`), unless that names no known key and the whole
    name matches exactly one known key with dots read as underscores (`CACHE_LOCAL_IMAGE_MAX_MB`).
    `known` maps `key.replace('.', '_')` → key."""
    lower = name.lower()
    if "__" in lower:
        return ".".join(p for p in lower.split("__") if p)
    first = lower.replace("_", ".", 1)
    if first in known.values():
        return first
    return known.get(lower, first)


class Settings:
    """Effective configuration. Construct once per process (see `from_boot`)."""

    def __init__(self, user_path: Path | str, *, environ: Mapping[str, str] | None = None,
                 check_interval: float = 1.0) -> None:
        self.user_path = Path(user_path)
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._defaults = load_defaults()
        known = list(self._defaults) + sorted(LEGACY_KEYS)
        self._env_names = {k.replace(".", "_"): k for k in known}
        self._check_interval = check_interval
        self._lock = threading.RLock()
        self._flat: dict[str, Any] = dict(self._defaults)
        self._tree: dict[str, Any] = {}
        self._sources: dict[str, Source] = {}
        self._file_flat: dict[str, Any] = {}
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._generation = 0
        self._load(strict=True)

    @classmethod
    def from_boot(cls, boot: BootConfig) -> Settings:
        return cls(boot.config_local_path, environ=boot.environ)

    load = from_boot  # alias used by the app factory

    # ------------------------------------------------------------------ loading
    def _read_file(self) -> dict[str, Any]:
        try:
            text = self.user_path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return {}
        try:
            return flatten(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{self.user_path}: not valid TOML ({exc})") from None

    def _read_env(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, raw in self._environ.items():
            if not name.startswith(ENV_PREFIX) or len(name) <= len(ENV_PREFIX):
                continue
            key = env_key(name[len(ENV_PREFIX):], self._env_names)
            target = LEGACY[key].target if key in LEGACY else key
            default = self._defaults.get(target, "")
            try:
                out[key] = coerce_env(raw, default) if key not in CF_CLEARANCE_KEYS else raw
            except (ValueError, SettingsError):
                log.warning("ignoring %s=%r: not a valid %s for %s", name, raw,
                            type(default).__name__, key)
        return out

    def _load(self, *, strict: bool) -> None:
        with self._lock:
            stamp = _file_stamp(self.user_path)
            try:
                file_flat = self._read_file()
            except SettingsError:
                if strict:
                    raise
                log.exception("keeping the previous settings")
                self._stamp = stamp
                return
            self._file_flat = file_flat
            self._stamp = stamp
            self._build(file_flat, self._read_env())

    def _build(self, file_flat: dict[str, Any], env_flat: dict[str, Any]) -> None:
        flat: dict[str, Any] = dict(self._defaults)
        sources: dict[str, Source] = {}
        layers: tuple[tuple[Source, dict[str, Any]], ...] = (("file", file_flat), ("env", env_flat))
        for name, layer in layers:
            for key, value in layer.items():
                flat[key] = value
                sources[key] = name
            for old, rule in LEGACY.items():
                if old not in layer:
                    continue
                value = rule.convert(layer[old])
                if rule.wins and value in ("", None, []):
                    continue
                if rule.wins or rule.target not in layer:
                    flat[rule.target] = value
                    sources[rule.target] = name
        clearance = next((flat[k] for k in CF_CLEARANCE_KEYS if flat.get(k)), "")
        if isinstance(clearance, str) and clearance.strip():
            cookies = flat.get("proxy.clearance.cf_cookies") or ""
            flat["proxy.clearance.cf_cookies"] = fold_cf_clearance(str(cookies), clearance)
            if flat.get("proxy.clearance.mode") == "none" and "proxy.clearance.mode" not in sources:
                flat["proxy.clearance.mode"] = "manual"
        self._tree = unflatten(flat)
        self._sources = sources
        self._flat = flat  # swapped last: readers see either the old or the new cache
        self._generation += 1

    @property
    def generation(self) -> builtins.int:
        """Changes whenever the effective settings may have: a value derived from them can be
        kept until it does."""
        return self._generation

    def reload(self) -> None:
        """Re-read the user file and the environment now."""
        self._load(strict=False)

    def reload_if_changed(self) -> bool:
        """Reload when the user file changed; stats it at most once per `check_interval`."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self._check_interval
        if _file_stamp(self.user_path) == self._stamp:
            return False
        self._load(strict=False)
        return True

    # ------------------------------------------------------------------ reading
    def get(self, key: str, default: Any = None) -> Any:
        value = self._flat.get(key, _MISSING)
        if value is _MISSING:
            node: Any = self._tree
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    return default
                node = node[part]
            return node
        return builtins.list(value) if isinstance(value, builtins.list) else value

    def source_of(self, key: str) -> Source:
        return self._sources.get(key, "default")

    def keys(self) -> builtins.list[str]:
        """Every effective leaf key, sorted."""
        return sorted(self._flat)

    def as_dict(self) -> dict[str, Any]:
        """The effective configuration as nested tables (a copy)."""
        return unflatten(self._flat)

    def is_known(self, key: str) -> bool:
        return key in self._defaults or key in LEGACY_KEYS

    # ------------------------------------------------------------------ writing
    def set(self, key: str, value: Any) -> None:
        self.set_many({key: value})

    def set_many(self, values: Mapping[str, Any]) -> None:
        """Validate every value, then write them all to the user TOML in one atomic replace.
        On any error the file is left untouched and `SettingsError` names the key."""
        with self._lock:
            checked: dict[str, Any] = {}
            for raw_key, value in values.items():
                key = raw_key.strip()
                checked[key] = validate(key, value, self._default_for(key))
                if key in CF_CLEARANCE_KEYS:
                    checked[key] = "".join(str(checked[key]).split())
            for old, rule in LEGACY.items():  # keep a winning flat alias in step with its target
                if rule.wins and rule.target in checked and old in self._file_flat and old not in checked:
                    checked[old] = checked[rule.target]
            try:
                text = self.user_path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                text = ""
            try:
                doc = tomlkit.parse(text)
            except TOMLKitError as exc:
                raise SettingsError(f"{self.user_path}: not valid TOML ({exc})") from None
            for key, value in checked.items():
                assign(doc, key, value)
            out = tomlkit.dumps(doc)
            tomllib.loads(out)  # never write a file we could not read back
            atomic_write(self.user_path, out)
            self._load(strict=True)

    def _default_for(self, key: str) -> Any:
        if key in self._defaults:
            return self._defaults[key]
        if key in LEGACY:
            return self._defaults[LEGACY[key].target]
        if key in CF_CLEARANCE_KEYS:
            return ""
        raise SettingsError(f"{key}: unknown setting")

    # ------------------------------------------------------------------ typed getters
    # Defined last: inside the class body these names shadow the builtins.
    def bool(self, key: str, default: builtins.bool = False) -> builtins.bool:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip().lower() in TRUE_WORDS
        return builtins.bool(value)

    def int(self, key: str, default: builtins.int = 0) -> builtins.int:
        value = self.get(key)
        try:
            return builtins.int(value)
        except (TypeError, ValueError):
            try:
                return builtins.int(builtins.float(value))
            except (TypeError, ValueError):
                return default

    def float(self, key: str, default: builtins.float = 0.0) -> builtins.float:
        try:
            return builtins.float(self.get(key))
        except (TypeError, ValueError):
            return default

    def str(self, key: str, default: builtins.str = "") -> builtins.str:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, builtins.list):
            return ",".join(builtins.str(v) for v in value)
        return builtins.str(value)

    def list(self, key: builtins.str, default: builtins.list[Any] | None = None) -> builtins.list[Any]:
        value = self.get(key)
        if value is None:
            return builtins.list(default or [])
        return split_list(value)

