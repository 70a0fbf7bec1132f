"""Declared settings: what an option is, how its values are checked, and the parsed snapshot
the request path reads.

A component declares the options it reads, next to the code that reads them, in a `load`
function (a static method of its class, or a module-level function):

    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("retry.max_retries", int, 1, "Extra attempts with a different account.")

`state.declarers.DECLARERS` names every such component. `Settings` checks each user value once
per change against its declaration and publishes the result as an immutable `Options`; code
reads it as attributes (`settings.options.retry.max_retries`), never by a string key with a
default restated at the call site.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from state.config_values import FALSE_WORDS, TRUE_WORDS, SettingsError, split_list, unflatten

__all__ = ["TYPES", "FixedSettings", "Loader", "Option", "Options", "type_name"]

#: The value types an option may have; lists accept an array or a comma/newline-separated string.
TYPES: tuple[Any, ...] = (bool, int, float, str, list[str], list[int])


def type_name(typespec: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string",
            list[str]: "list of strings", list[int]: "list of integers"}[typespec]


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its dotted name, value type, the one default, and the help text the docs
    and `grok2api config` show. `choices` limits a string; `value_aliases` maps older spellings
    of a choice to the current one (accepted when reading and setting, never documented);
    `check` inspects a parsed value and raises ValueError saying what is wrong with it."""

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    value_aliases: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[Any], None] | None = None

    def parse(self, value: Any) -> Any:
        """`value` (from TOML, an env string or the CLI) as this option's type; lists become
        tuples so a published value cannot be changed in place. Raises `SettingsError`."""
        parsed = self._parse(value)
        if self.check is not None:
            try:
                self.check(parsed)
            except ValueError as exc:
                raise SettingsError(f"{self.name}: {exc}") from None
        return parsed

    def _parse(self, value: Any) -> Any:
        key, kind = self.name, self.type
        if kind is bool:
            return _bool(key, value)
        if kind is int:
            return _int(key, value)
        if kind is float:
            return _float(key, value)
        if kind is str:
            return self._choice(_str(key, value))
        if kind == list[str]:
            return tuple(str(v) for v in _items(key, value))
        if kind == list[int]:
            try:
                return tuple(_int(key, v) for v in _items(key, value))
            except SettingsError:
                raise SettingsError(f"{key}: expected a list of integers, got {value!r}") from None
        raise SettingsError(f"{key}: unsupported option type {kind!r}")

    def storable(self, value: Any) -> Any:
        """The parsed value as written to the user TOML (arrays, not tuples)."""
        parsed = self.parse(value)
        return list(parsed) if isinstance(parsed, tuple) else parsed

    def _choice(self, text: str) -> str:
        if not self.choices:
            return text
        word = text.strip()
        word = self.value_aliases.get(word, word)
        if word not in self.choices:
            raise SettingsError(f"{self.name}: must be one of {' | '.join(self.choices)}, "
                                f"got {text!r}")
        return word


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip():
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise SettingsError(f"{key}: expected true or false, got {value!r}")


def _int(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise SettingsError(f"{key}: expected an integer, got {value!r}")


def _float(key: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise SettingsError(f"{key}: expected a number, got {value!r}")


def _str(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric password written without quotes
    raise SettingsError(f"{key}: expected a string, got {value!r}")


def _items(key: str, value: Any) -> list[Any]:
    """A list value: an array, a TOML array literal (`[403, 429]`), or a comma/newline list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise SettingsError(f"{key}: not a valid array literal: {value!r}") from None
    if isinstance(value, (str, list, tuple)):
        items = split_list(list(value) if isinstance(value, tuple) else value)
        if all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in items):
            return items
    raise SettingsError(f"{key}: expected a list, got {value!r}")


class Loader:
    """Collects declarations. Each name may be declared once, with a default of its type."""

    def __init__(self) -> None:
        self.options: dict[str, Option] = {}

    def add_option(self, name: str, typespec: Any, default: Any, help: str, *,
                   choices: tuple[str, ...] = (),
                   value_aliases: Mapping[str, str] | None = None,
                   check: Callable[[Any], None] | None = None) -> None:
        if name in self.options:
            raise ValueError(f"option {name} is declared twice")
        if typespec not in TYPES:
            raise ValueError(f"option {name}: type {typespec!r} is not one of {TYPES}")
        option = Option(name, typespec, default, help.strip(), tuple(choices),
                        dict(value_aliases or {}), check)
        try:
            parsed = option.parse(default)
        except SettingsError as exc:
            raise ValueError(f"option {name}: bad default ({exc})") from None
        plain = list if isinstance(parsed, tuple) else typespec
        if type(default) is not plain or (plain is list and tuple(default) != parsed):
            raise ValueError(f"option {name}: default {default!r} is not of type "
                             f"{type_name(typespec)}")
        if any(o.name.startswith(name + ".") or name.startswith(o.name + ".")
               for o in self.options.values()):
            raise ValueError(f"option {name}: a key cannot also be a table of keys")
        self.options[name] = option


class _Section:
    """One table of the options: its keys and sub-tables are attributes."""

    def __init__(self, path: str, tree: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_path", path)
        for name, value in tree.items():
            child = _Section(f"{path}{name}.", value) if isinstance(value, dict) else value
            object.__setattr__(self, name, child)

    def __getattr__(self, name: str) -> Any:  # only called for a name that is not there
        raise AttributeError(f"no option {self._path}{name} is declared")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("options are read-only: change them with Settings.set")

    def __repr__(self) -> str:
        items = {k: v for k, v in vars(self).items() if k != "_path"}
        return f"<options {self._path.rstrip('.') or '(root)'} {items}>"


class Options(_Section):
    """The typed value of every declared option, for one generation of the settings.

    Immutable: a change builds a new object, so a value derived from it can be kept for as
    long as the same object is current. `options["a.b"]` serves a name computed at run time."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__("", unflatten(values))
        object.__setattr__(self, "_values", dict(values))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    @classmethod
    def build(cls, declared: Mapping[str, Option], values: Mapping[str, Any] | None = None
              ) -> Options:
        """Defaults of `declared`, with `values` (parsed and checked) over them."""
        out = {name: opt.parse(opt.default) for name, opt in declared.items()}
        for key, value in (values or {}).items():
            if key not in declared:
                raise SettingsError(f"{key}: unknown setting")
            out[key] = declared[key].parse(value)
        return cls(out)


class FixedSettings:
    """Settings that never change, from a few values over the declared defaults: for tools
    and tests that need no config file. Same reading surface as `Settings`."""

    generation = 0

    def __init__(self, values: Mapping[str, Any] | None = None,
                 declared: Mapping[str, Option] | None = None) -> None:
        if declared is None:
            from state.declarers import declared_options

            declared = declared_options()
        self.options = Options.build(declared, values)

    def reload_if_changed(self) -> bool:
        return False

    def get(self, key: str, default: Any = None) -> Any:
        return self.options._values.get(key, default)
