"""The runtime settings as an operator's editor sees them, and a batch of changes judged
before any is saved.

The view is generated from the declarations (`state/options.py`): per option its key, table,
type, default, help, choices, current value and where the value comes from (default, the
user file, or a `GROK_*` variable, named). A secret (`state.redact.SECRET_OPTIONS`) is never
in the view: only whether it is set, and for a URL where it points (scheme, host and port,
no credentials, path or query), so the editor can say what is configured.

`check_changes` judges every change with the declaration's own parse and check, so the
editor refuses exactly what the settings would ignore; an unknown key is refused, and so is a
key a `GROK_*` variable sets (the variable would win over the file, so the save would not
apply).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from state.config_values import SettingsError, flatten
from state.options import Option, type_name
from state.redact import SECRET_OPTIONS, URL_OPTIONS, mask_setting

__all__ = ["Problem", "check_changes", "config_view", "is_secret", "option_view"]

_SECRETS = frozenset(SECRET_OPTIONS)
#: The editor's input kind per declared type.
_TYPES: dict[Any, str] = {bool: "bool", int: "int", float: "float", str: "string",
                          list[str]: "string_list", list[int]: "int_list"}
_EMPTY = ("", (), [], None)

#: A further check of one key's new value (after the declaration's): returns the value to
#: store or raises ValueError saying what is wrong.
ExtraCheck = Callable[[Any], Any]


def is_secret(key: str) -> bool:
    return key in _SECRETS


def _where(url: str) -> str:
    """scheme://host:port of a URL: where it points, without what may be a credential."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "?"
    return f"{parts.scheme}://{host}{port}" if parts.scheme and host else "?"


def option_view(settings: Any, key: str) -> dict[str, Any]:
    """One option for the editor (`settings`: a `state.settings.Settings`)."""
    option: Option = settings.option(key)
    table, _, name = key.rpartition(".")
    source = settings.source_of(key)
    entry: dict[str, Any] = {
        "key": key, "section": table, "name": name, "type": _TYPES[option.type],
        "help": option.help, "choices": list(option.choices), "source": source,
        "env": settings.env_var(key) if source == "env" else None,
        "secret": is_secret(key),
    }
    value = settings.get(key)
    if is_secret(key):
        entry |= {"value": None, "default": None, "set": value not in _EMPTY}
        if key in URL_OPTIONS and value not in _EMPTY:
            items = value if isinstance(value, list) else [value]
            entry["points_to"] = [_where(v) for v in items if isinstance(v, str) and v.strip()]
    else:
        default = option.default
        entry |= {"value": value, "default": list(default) if isinstance(default, tuple)
                  else default}
    return entry


def config_view(settings: Any) -> dict[str, Any]:
    """Every declared option, sorted by key, and the file the editor writes; beside them the
    merged values as nested tables (`{"app": {"app_url": …}, …}`, the shape the older
    gateways' scripts read, api-surface §10.1), secrets masked."""
    nested: dict[str, Any] = {}
    for key in settings.keys():
        *tables, name = key.split(".")
        node = nested
        for table in tables:
            node = node.setdefault(table, {})
        node[name] = mask_setting(key, settings.get(key))
    return {**nested, "file": str(settings.user_path),
            "options": [option_view(settings, key) for key in settings.keys()]}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one change cannot be saved: `status` 400 (a bad key or value) or 409 (a `GROK_*`
    variable sets the key; `env` names it)."""

    key: str
    message: str
    status: int = 400
    code: str = "invalid_value"
    env: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.key, "message": self.message, "code": self.code,
                "status": self.status, **({"env": self.env} if self.env else {})}


def check_changes(settings: Any, changes: Mapping[str, Any],
                  extra: Mapping[str, ExtraCheck] | None = None
                  ) -> tuple[dict[str, Any], list[Problem]]:
    """(`changes` as they would be stored, by declared key; every problem found). `changes`
    may be flat (`{"app.app_url": …}`) or nested (`{"app": {"app_url": …}}`); an older name
    of an option counts as the option. Nothing is saved here."""
    checked: dict[str, Any] = {}
    problems: list[Problem] = []
    for raw_key, value in flatten(changes).items():
        key = raw_key.strip()
        option = settings.option(key)
        if option is None:
            problems.append(Problem(key, f"{key}: unknown setting (nothing in this version "
                                         "reads it)", code="unknown_setting"))
            continue
        key = option.name
        if settings.source_of(key) == "env":
            var = settings.env_var(key) or "a GROK_* environment variable"
            problems.append(Problem(key, f"{key} is set by the environment variable {var}, "
                                         "which wins over the config file: change it there",
                                    status=409, code="set_by_environment", env=var))
            continue
        if value is None:
            problems.append(Problem(key, f"{key}: a value is required"))
            continue
        try:
            stored = option.storable(value)
            check = (extra or {}).get(key)
            if check is not None:
                stored = check(stored)
        except SettingsError as exc:
            # a secret's complaint must not repeat the value that was sent
            problems.append(Problem(key, f"{key}: expected {type_name(option.type)}"
                                    if is_secret(key) else str(exc)))
            continue
        except ValueError as exc:
            problems.append(Problem(key, f"{key}: {exc}"))
            continue
        checked[key] = stored
    return checked, problems
