"""Layered runtime settings: declared defaults ← user TOML ← `GROK_*` environment overrides.

Every value is checked against its declaration (`state/options.py`) once per change and
published as one immutable `Options` object (`settings.options`), which the request path reads
as attributes. The user file is re-read only when its mtime/size changes, checked at most once
a second. Writes go through tomlkit so comments and ordering in the user's file survive, and
are atomic (temp file + rename).

A key that no component declares (left from an earlier version, or from another gateway's
config) does not stop loading: it is logged once as ignored and listed by `ignored_keys()`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import tomlkit
from tomlkit.exceptions import TOMLKitError

from state.config_values import (
    CF_CLEARANCE_KEYS,
    CF_COOKIES_KEY,
    LEGACY,
    SettingsError,
    flatten,
    fold_cf_clearance,
    unflatten,
)
from state.legacy_config import map_grok_section
from state.options import Option, Options
from state.tomlfile import assign, atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig

__all__ = ["Settings", "SettingsError", "env_key"]

log = logging.getLogger(__name__)
ENV_PREFIX = "GROK_"
Source = Literal["default", "file", "env"]
_EMPTY = ("", ())


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def env_key(name: str, known: Mapping[str, str]) -> str:
    """`GROK_` stripped name → dotted key. `A__B__C` is a path; otherwise split at the first
    underscore (`APP_API_KEY` → `app.api_key`), unless that names no known key and the whole
    name matches exactly one known key with dots read as underscores (`ACCOUNT_REFRESH_ENABLED`).
    `known` maps `key.replace('.', '_')` → key."""
    lower = name.lower()
    if "__" in lower:
        return ".".join(p for p in lower.split("__") if p)
    first = lower.replace("_", ".", 1)
    if first in known.values():
        return first
    return known.get(lower, first)


class Settings:
    """Effective configuration. Construct once per process (see `from_boot`).

    `declared` defaults to every option of `state.declarers.DECLARERS`."""

    def __init__(self, user_path: Path | str, *, environ: Mapping[str, str] | None = None,
                 check_interval: float = 1.0,
                 declared: Mapping[str, Option] | None = None) -> None:
        if declared is None:
            from state.declarers import declared_options  # imports the declaring components

            declared = declared_options()
        self.user_path = Path(user_path)
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._declared = declared
        self._defaults = {name: opt.parse(opt.default) for name, opt in declared.items()}
        self._aliases = {old: rule for old, rule in LEGACY.items() if rule.target in declared}
        self._clearance_keys = CF_CLEARANCE_KEYS if CF_COOKIES_KEY in declared else ()
        known = [*declared, *self._aliases, *self._clearance_keys]
        self._env_names = {k.replace(".", "_"): k for k in known}
        self._check_interval = check_interval
        self._lock = threading.RLock()
        self._values: dict[str, Any] = dict(self._defaults)
        self._sources: dict[str, Source] = {}
        self._env_vars: dict[str, str] = {}  # key → the GROK_* variable that set it
        self._ignored: dict[str, str] = {}
        self._reported: set[str] = set()  # each problem is logged once per process
        self._file_flat: dict[str, Any] = {}
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._generation = 0
        #: The checked value of every declared option; replaced as a whole on each change.
        self.options = Options(self._values)
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

    def _read_env(self) -> tuple[dict[str, str], dict[str, str]]:
        """(dotted key → raw string, dotted key → the variable's name)."""
        values: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, raw in self._environ.items():
            if not name.startswith(ENV_PREFIX) or len(name) <= len(ENV_PREFIX):
                continue
            key = env_key(name[len(ENV_PREFIX):], self._env_names)
            values[key] = raw
            names[key] = name
        return values, names

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
            env_flat, env_names = self._read_env()
            self._build(file_flat, env_flat, env_names)

    def _report(self, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            log.warning("%s", message)

    def _build(self, file_flat: dict[str, Any], env_flat: dict[str, str],
               env_names: dict[str, str]) -> None:
        values = dict(self._defaults)
        sources: dict[str, Source] = {}
        env_vars: dict[str, str] = {}
        ignored: dict[str, str] = {}
        file_flat = self._read_grok_section(file_flat, ignored)
        layers: tuple[tuple[Source, dict[str, Any]], ...] = (("file", file_flat), ("env", env_flat))
        for source, layer in layers:
            def where(key: str) -> str:
                if source == "file":
                    return str(self.user_path)
                return f"environment variable {env_names[key]}"

            def check(key: str, option: Option, raw: Any) -> Any:
                try:
                    return option.parse(raw)
                except SettingsError as exc:
                    self._report(f"{where(key)}: {exc}; using "
                                 f"{'the default' if source == 'file' else 'the file or default'}"
                                 " value instead")
                    return None

            for key, raw in layer.items():
                option = self._declared.get(key)
                if option is not None:
                    value = check(key, option, raw)
                    if value is not None:
                        values[key], sources[key] = value, source
                        if source == "env":
                            env_vars[key] = env_names[key]
                elif key not in self._aliases and key not in self._clearance_keys:
                    ignored[key] = where(key)
            for old, rule in self._aliases.items():
                if old not in layer:
                    continue
                value = check(old, dataclasses.replace(self._declared[rule.target], name=old),
                              layer[old])
                if value is None or (rule.wins and value in _EMPTY):
                    continue
                if rule.wins or rule.target not in layer:
                    values[rule.target], sources[rule.target] = value, source
                    if source == "env":
                        env_vars[rule.target] = env_names[old]
        merged = {**file_flat, **env_flat}
        clearance = next((merged[k] for k in self._clearance_keys if merged.get(k)), "")
        if isinstance(clearance, str) and clearance.strip():
            values[CF_COOKIES_KEY] = fold_cf_clearance(values[CF_COOKIES_KEY], clearance)
        for key, place in ignored.items():
            if key.startswith("grok.") and place == str(self.user_path):
                continue  # reported with its reason by _read_grok_section
            self._report(f"{place}: {key} is ignored: nothing in this version reads it")
        options = Options(values)
        self._values, self._sources, self._ignored = values, sources, ignored
        self._env_vars = env_vars
        self.options = options  # swapped last: readers see either the old or the new values
        self._generation += 1

    def _read_grok_section(self, file_flat: dict[str, Any], ignored: dict[str, str]
                           ) -> dict[str, Any]:
        """The older gateways' `[grok]` section read as today's keys (a key the file also sets
        under its new name keeps that value), each older key named in a warning with its new
        name; one that maps to nothing is reported as ignored with the reason."""
        flat, mapped, dropped = map_grok_section(file_flat, self._declared)
        targets: dict[str, list[str]] = {}
        for item in mapped:
            targets.setdefault(item.old, []).append(item.new)
        for old, new in targets.items():
            self._report(f"{self.user_path}: [grok] {old.split('.', 1)[1]} is an older name, "
                         f"read as {' and '.join(new)}; `grok2api migrate` rewrites the file")
        for item in dropped:
            ignored[item.old] = str(self.user_path)
            self._report(f"{self.user_path}: [grok] {item.old.split('.', 1)[1]} is ignored: "
                         f"{item.reason}")
        return flat

    @property
    def generation(self) -> int:
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

    # ------------------------------------------------------------------ inspecting
    # For the CLI and the admin API; the request path reads `options` instead.
    def get(self, key: str, default: Any = None) -> Any:
        """The effective value of a declared option (or of the option an older name stands
        for); `default` for a key nothing declares."""
        value = self._values.get(self._current_name(key), default)
        return list(value) if isinstance(value, tuple) else value

    def option(self, key: str) -> Option | None:
        """The declaration of `key`, or of the option an older name stands for."""
        return self._declared.get(self._current_name(key))

    def _current_name(self, key: str) -> str:
        if key in self._aliases:
            return self._aliases[key].target
        return CF_COOKIES_KEY if key in self._clearance_keys else key

    def source_of(self, key: str) -> Source:
        return self._sources.get(key, "default")

    def env_var(self, key: str) -> str | None:
        """The `GROK_*` variable whose value `key` has (None unless its source is env)."""
        return self._env_vars.get(key)

    def keys(self) -> list[str]:
        """Every declared option, sorted."""
        return sorted(self._declared)

    def ignored_keys(self) -> dict[str, str]:
        """Keys the user file or a `GROK_*` variable sets that nothing reads, with where each
        was found (the file's path or the variable's name)."""
        return dict(self._ignored)

    def as_dict(self) -> dict[str, Any]:
        """The effective configuration as nested tables (a copy)."""
        return unflatten({k: self.get(k) for k in self._values})

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
                checked[key] = self._storable(key, value)
            for old, rule in self._aliases.items():  # keep a winning flat alias in step
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

    def _storable(self, key: str, value: Any) -> Any:
        if key in self._clearance_keys:
            if not isinstance(value, str):
                raise SettingsError(f"{key}: expected a string, got {value!r}")
            return "".join(value.split())
        option = self.option(key)
        if option is None:
            raise SettingsError(f"{key}: unknown setting (nothing in this version reads it)")
        return dataclasses.replace(option, name=key).storable(value)
