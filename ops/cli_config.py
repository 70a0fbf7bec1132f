"""`grok2api config get|set|list|docs`: read and edit the runtime settings file.

Edits go to ${DATA_DIR}/config.toml (comments kept); a running server picks them up within a
second. GROK_* environment variables still win over the file. Only declared options can be
set; keys in the file that nothing reads are reported as ignored. Secrets (keys, cookies,
proxy passwords: `state.redact.SECRET_OPTIONS`) are masked unless `--show-secrets`."""
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import orjson

from state.boot import BootConfig, BootError
from state.redact import mask_setting
from state.settings import ENV_PREFIX, Settings, SettingsError, env_key

__all__ = ["config"]

_SHOW_SECRETS = click.option("--show-secrets", is_flag=True,
                             help="Do not mask keys, passwords and cookies.")


class _Loaded(Settings):
    """The settings, with the environment they were read from (to name a variable)."""

    environ: Mapping[str, str]


def _settings() -> _Loaded:
    try:
        boot = BootConfig.from_env()
        settings = _Loaded.from_boot(boot)
    except (BootError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    settings.environ = boot.environ
    return settings


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _env_name(settings: _Loaded, key: str) -> str | None:
    """The `GROK_*` variable that sets `key` (or an older name of it), if one does: the last
    one, as the settings read them in order."""
    known = {k.replace(".", "_"): k for k in settings.keys()}
    found = None
    for name in settings.environ:
        if not name.startswith(ENV_PREFIX) or len(name) <= len(ENV_PREFIX):
            continue
        option = settings.option(env_key(name[len(ENV_PREFIX):], known))
        if option is not None and option.name == key:
            found = name
    return found


def _source(settings: _Loaded, key: str) -> str:
    """Where the effective value of `key` comes from, said for a person."""
    source = settings.source_of(key)
    if source == "file":
        return f"file {settings.user_path}"
    if source == "env":
        name = _env_name(settings, key)
        return f"environment variable {name}" if name else "environment"
    return "default"


@click.group("config")
def config() -> None:
    """Read and edit runtime settings (${DATA_DIR}/config.toml)."""


@config.command("get")
@click.argument("key")
@_SHOW_SECRETS
def get_cmd(key: str, show_secrets: bool) -> None:
    """Print the effective value of KEY (dotted, e.g. app.api_key) on stdout, and where it
    comes from (default, file, environment variable) on stderr. Secrets are masked unless
    --show-secrets."""
    settings = _settings()
    option = settings.option(key)
    if option is None:
        where = settings.ignored_keys().get(key)
        if where is not None:
            raise click.ClickException(f"{key} is ignored: nothing in this version reads it "
                                       f"(set in {where})")
        raise click.ClickException(f"{key}: unknown setting")
    value = settings.get(key)
    click.echo(_render(value if show_secrets else mask_setting(option.name, value)))
    click.echo(f"source: {_source(settings, option.name)}", err=True)
    if option.name != key:
        click.echo(f"note: {key} is an older name of {option.name}", err=True)


@config.command("set")
@click.argument("key")
@click.argument("value")
@_SHOW_SECRETS
def set_cmd(key: str, value: str, show_secrets: bool) -> None:
    """Set KEY to VALUE in the user config file (validated against the key's type).

    Lists take a comma-separated string or an array literal: `[403, 429]`."""
    settings = _settings()
    try:
        settings.set(key, value)
    except SettingsError as exc:
        click.echo(f"error: {exc} (config file left unchanged)", err=True)
        sys.exit(2)
    option = settings.option(key)
    name = option.name if option is not None else key
    stored = settings.get(key)
    shown = stored if show_secrets else mask_setting(name, stored)
    click.echo(f"{key} = {_render(shown)}  (written to {settings.user_path})")
    if settings.source_of(name) == "env":
        click.echo(f"note: the {_source(settings, name)} overrides {key}; the file value "
                   "applies once it is unset", err=True)


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_SHOW_SECRETS
def list_cmd(as_json: bool, show_secrets: bool) -> None:
    """Print every setting with its effective value and where it comes from (default, file,
    env), then the keys that are set but ignored because nothing reads them."""
    settings = _settings()
    rows = []
    for key in settings.keys():
        value = settings.get(key)
        rows.append((key, value if show_secrets else mask_setting(key, value),
                     settings.source_of(key)))
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
