"""`grok2api config get|set|list|docs`: read and edit the runtime settings file.

Edits go to ${DATA_DIR}/config.toml (comments kept); a running server picks them up within a
second. GROK_* environment variables still win over the file. Only declared options can be
set; keys in the file that nothing reads are reported as ignored."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from state.boot import BootConfig, BootError
from state.settings import Settings, SettingsError

__all__ = ["config"]

_SECRET_HINTS = ("api_key", "app_key", "webui_key", "cf_cookies", "cf_clearance", "password")


def _settings() -> Settings:
    try:
        return Settings.from_boot(BootConfig.from_env())
    except (BootError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _mask(key: str, value: Any) -> Any:
    if any(h in key for h in _SECRET_HINTS) and value not in ("", [], None):
        return "********"
    return value


@click.group("config")
def config() -> None:
    """Read and edit runtime settings (${DATA_DIR}/config.toml)."""


@config.command("get")
@click.argument("key")
def get_cmd(key: str) -> None:
    """Print the effective value of KEY (dotted, e.g. app.api_key)."""
    settings = _settings()
    option = settings.option(key)
    if option is None:
        where = settings.ignored_keys().get(key)
        if where is not None:
            raise click.ClickException(f"{key} is ignored: nothing in this version reads it "
                                       f"(set in {where})")
        raise click.ClickException(f"{key}: unknown setting")
    click.echo(_render(settings.get(key)))
    if option.name != key:
        click.echo(f"note: {key} is an older name of {option.name}", err=True)


@config.command("set")
@click.argument("key")
@click.argument("value")
def set_cmd(key: str, value: str) -> None:
    """Set KEY to VALUE in the user config file (validated against the key's type).

    Lists take a comma-separated string or an array literal: `[403, 429]`."""
    settings = _settings()
    try:
        settings.set(key, value)
    except SettingsError as exc:
        click.echo(f"error: {exc} (config file left unchanged)", err=True)
        sys.exit(2)
    click.echo(f"{key} = {_render(settings.get(key))}  (written to {settings.user_path})")
    if settings.source_of(key) == "env":
        click.echo(f"note: an environment variable overrides {key}; the file value applies "
                   "once it is unset", err=True)


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--show-secrets", is_flag=True, help="Do not mask keys, passwords and cookies.")
def list_cmd(as_json: bool, show_secrets: bool) -> None:
    """Print every setting with its effective value and where it comes from (default, file,
    env), then the keys that are set but ignored because nothing reads them."""
    settings = _settings()
    rows = []
    for key in settings.keys():
        value = settings.get(key)
        rows.append((key, value if show_secrets else _mask(key, value), settings.source_of(key)))
    ignored = settings.ignored_keys()
    if as_json:
        out: dict[str, Any] = {k: {"value": v, "source": s} for k, v, s in rows}
        out.update({k: {"ignored": True, "where": w} for k, w in ignored.items()})
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    width = max((len(k) for k in [*(r[0] for r in rows), *ignored]), default=0)
    for key, value, source in rows:
        click.echo(f"{key:<{width}}  {_render(value)}  [{source}]")
    for key, where in sorted(ignored.items()):
        click.echo(f"{key:<{width}}  (ignored: nothing reads it)  [{where}]")


@config.command("docs")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (e.g. docs/configuration.md) instead of printing.")
def docs_cmd(output: Path | None) -> None:
    """Print the settings reference (Markdown), generated from the declared options."""
    from ops.config_docs import render
    from state.declarers import declared_options

    text = render(declared_options())
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")
