"""The declared options against what ships and what the code reads: state/defaults.toml,
docs/configuration.md, and every settings read in the source tree."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ops.config_docs import DOCS_PATH, render
from state.config_values import LEGACY, flatten
from state.declarers import declared_options
from state.options import Loader, type_name

ROOT = Path(__file__).parents[2]
DEFAULTS = ROOT / "state" / "defaults.toml"
SOURCES = [p for folder in ("addons", "quart_app", "state", "ops")
           for p in sorted((ROOT / folder).rglob("*.py"))]


def shipped() -> dict:
    return flatten(tomllib.loads(DEFAULTS.read_text(encoding="utf-8")))


def test_every_shipped_key_is_declared_and_every_declared_key_is_shipped() -> None:
    declared, toml = declared_options(), shipped()
    assert sorted(set(toml) - set(declared)) == [], "shipped in defaults.toml but nothing reads it"
    assert sorted(set(declared) - set(toml)) == [], "declared but missing from defaults.toml"


@pytest.mark.parametrize("key", sorted(declared_options()))
def test_shipped_default_and_type_equal_the_declaration(key: str) -> None:
    option, value = declared_options()[key], shipped()[key]
    assert value == option.default, f"{key}: defaults.toml has {value!r}"
    kinds = {bool: bool, int: int, float: float, str: str}
    if option.type in kinds:
        assert type(value) is kinds[option.type], f"{key}: expected a {type_name(option.type)}"
    else:
        assert isinstance(value, list) and option.parse(value) == tuple(value)


def test_every_shipped_key_has_a_comment() -> None:
    lines = DEFAULTS.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above {line!r}"


def test_docs_are_generated_from_the_declarations() -> None:
    committed = (ROOT / DOCS_PATH).read_text(encoding="utf-8")
    assert committed == render(declared_options()), (
        f"{DOCS_PATH} is stale: regenerate it with "
        f"`grok2api config docs --output {DOCS_PATH}` and commit it")


def test_every_option_has_help_and_every_alias_a_declared_target() -> None:
    declared = declared_options()
    assert all(o.help for o in declared.values())
    assert all(o.default in o.choices for o in declared.values() if o.choices)
    # aliases whose target is gone are simply not honoured (and then reported as ignored)
    assert {rule.target for rule in LEGACY.values()} <= set(declared)


_STRING_READ = re.compile(r"\b(?:settings|s)\.(?:int|float|bool|str|list)\(|"
                          r"settings\.get\(\s*f?[\"']")


def test_no_setting_is_looked_up_by_string() -> None:
    """Code reads `settings.options.<table>.<key>`; a literal default at the call site would
    be a second default for the same key."""
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in SOURCES if p.name not in ("settings.py",) and "cli_config" not in p.name
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if _STRING_READ.search(line)]
    assert found == []


_OPTION_PATH = re.compile(r"settings\.options((?:\.[a-z_][a-z0-9_]*)+)")


def test_every_option_path_in_the_code_is_declared() -> None:
    declared = set(declared_options())
    tables = {k.rsplit(".", i)[0] for k in declared for i in range(1, k.count(".") + 1)}
    bad = []
    for path in SOURCES:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _OPTION_PATH.finditer(line):
                parts = match.group(1)[1:].split(".")
                if parts[0].startswith("_"):
                    continue  # the Options object's own internals
                for i in range(1, len(parts) + 1):
                    dotted = ".".join(parts[:i])
                    if dotted in declared:
                        break  # what follows is an attribute of the value (`.strip()`)
                    if dotted not in tables:
                        bad.append(f"{path.relative_to(ROOT)}:{n}: {dotted}")
                        break
    assert bad == []


def test_importing_the_settings_imports_no_component() -> None:
    """The list of declarers is resolved only when the options are first needed."""
    code = ("import sys, state.settings, state.declarers, state.options;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('addons', 'quart_app')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_loader_refuses_a_second_declaration_and_a_bad_default() -> None:
    loader = Loader()
    loader.add_option("a.b", int, 1, "one")
    with pytest.raises(ValueError, match="declared twice"):
        loader.add_option("a.b", int, 1, "again")
    with pytest.raises(ValueError, match="not of type float"):
        loader.add_option("a.c", float, 1, "an int where a float is declared")
    with pytest.raises(ValueError, match="bad default"):
        loader.add_option("a.c", int, 1.5, "not an int")
    with pytest.raises(ValueError, match="bad default"):
        loader.add_option("a.d", str, "x", "not a choice", choices=("y",))
    with pytest.raises(ValueError, match="table"):
        loader.add_option("a.b.c", int, 1, "a key under a key")
