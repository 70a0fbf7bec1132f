"""`grok2api keys create|list|update|enable|disable|delete`: the managed client keys, in the
database directly (DATABASE_URL, else DATA_DIR's SQLite). The server need not run; a running
one loads the change within `keys.sync_interval_sec`. A key is named by its id or its full
value; its value is printed once, by `create`."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import orjson

from state.boot import BootConfig, BootError
from state.db_check import DatabaseUnavailable, open_checked
from state.dbthread import DBThread
from state.keys import KeyRecord, hash_key
from state.keys_input import KeyInputError, changed_record, key_view, new_record
from state.migrations import migrate

__all__ = ["keys"]


@contextmanager
def _db() -> Iterator[tuple[DBThread, Callable[[str], str | None]]]:
    """The database thread (migrated), and the model check of the catalogue."""
    from addons.services.catalogue import Catalogue
    from state.settings import Settings

    try:
        boot = BootConfig.from_env()
        settings = Settings.from_boot(boot)
        db = open_checked(boot)
    except (BootError, DatabaseUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    catalogue = Catalogue(settings)

    def check(model: str) -> str | None:
        spec = catalogue.resolve(model)
        return spec.id if spec is not None else None

    thread = DBThread(db)
    try:
        thread.run_sync(migrate, db)
        yield thread, check
    finally:
        thread.close()


def _policy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options `create` and `update` share (absent = unchanged on update)."""
    options = [
        click.option("--name", default=None, help="A label (usage, logs)."),
        click.option("--rpm", type=int, default=None, help="Requests per minute; -1 = unlimited."),
        click.option("--max-concurrency", type=int, default=None,
                     help="Concurrent requests; -1 = unlimited."),
        *[click.option(f"--{kind}-per-day", type=int, default=None,
                       help=f"Daily {kind} quota; -1 = unlimited.")
          for kind in ("chat", "heavy", "image", "video", "tokens")],
        click.option("--model", "models", multiple=True,
                     help="Allowed model (repeat); none = every model."),
        click.option("--all-models", is_flag=True, help="Clear the allow-list (update)."),
        click.option("--pool", "pools", multiple=True,
                     help="Serve only from this pool (repeat: basic, super, heavy)."),
        click.option("--tag", "tags", multiple=True,
                     help="Serve only from accounts with this tag (repeat)."),
        click.option("--any-account", is_flag=True, help="Clear the scope (update)."),
        click.option("--nsfw/--no-nsfw", default=None, help="Media may be NSFW."),
        click.option("--expires-at", type=int, default=None,
                     help="Unix seconds after which the key stops working; -1 = never."),
        click.option("--expires-in-days", type=float, default=None,
                     help="Expiry this many days from now."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _body(opts: dict[str, Any]) -> dict[str, Any]:
    """The admin API's body for the options given."""
    body: dict[str, Any] = {}
    if opts.get("name") is not None:
        body["name"] = opts["name"]
    for name in ("rpm", "max_concurrency"):
        if opts.get(name) is not None:
            body[name] = opts[name]
    limits = {f"{k}_per_day": opts[f"{k}_per_day"] for k in
              ("chat", "heavy", "image", "video", "tokens") if opts.get(f"{k}_per_day") is not None}
    if limits:
        body["limits"] = limits
    if opts.get("models"):
        body["models"] = list(opts["models"])
    elif opts.get("all_models"):
        body["models"] = []
    if opts.get("pools") or opts.get("tags"):
        body["scope"] = {"pools": list(opts.get("pools") or ()),
                         "tags": list(opts.get("tags") or ())}
    elif opts.get("any_account"):
        body["scope"] = {}
    if opts.get("nsfw") is not None:
        body["nsfw"] = opts["nsfw"]
    if opts.get("expires_in_days") is not None:
        body["expires_at"] = int(time.time() + opts["expires_in_days"] * 86400)
    elif opts.get("expires_at") is not None:
        body["expires_at"] = None if opts["expires_at"] < 0 else opts["expires_at"]
    return body


def _usage(thread: DBThread, records: Sequence[KeyRecord]) -> dict[str, dict[str, int]]:
    """Today's counts as the database holds them (with Redis, the servers keep them there)."""
    from state.keys_limits import day_bucket
    from state.keys_store import COUNTER_FIELDS, read_counters

    day = day_bucket(time.time())
    found = thread.run_sync(read_counters, [r.id for r in records], [day])
    return {key_id: dict(zip(COUNTER_FIELDS, values)) for (key_id, _), values in found.items()}


def _echo(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        return
    limits = " ".join(f"{k.removesuffix('_per_day')}:{v}" for k, v in view["limits"].items()
                      if v is not None)
    extra = [f"rpm:{view['rpm']}" if view["rpm"] is not None else "",
             f"conc:{view['max_concurrency']}" if view["max_concurrency"] is not None else "",
             limits, "models:" + ",".join(view["models"]) if view["models"] else "",
             "pools:" + ",".join(view["scope"]["pools"]) if view["scope"]["pools"] else "",
             "tags:" + ",".join(view["scope"]["tags"]) if view["scope"]["tags"] else "",
             "" if view["nsfw"] else "no-nsfw"]
    click.echo(f"{view['id']}  {view['display_key']:<14} {view['status']:<8} {view['name']}"
               + ("  " + " ".join(e for e in extra if e) if any(extra) else ""))


def _find(thread: DBThread, idents: Sequence[str]) -> list[KeyRecord]:
    from state.keys_store import load_keys

    _, records = thread.run_sync(load_keys)
    by_id = {r.id: r for r in records}
    by_hash = {r.key_hash: r for r in records}
    found: list[KeyRecord] = []
    for ident in idents:
        record = by_id.get(ident) or by_hash.get(hash_key(ident))
        if record is None:
            raise click.ClickException(f"no such key: {ident if ident in by_id else ident[:6] + '…'}")
        found.append(record)
    return found


@click.group("keys")
def keys() -> None:
    """Managed client keys: limits, scopes and NSFW per key (stored as hashes)."""


@keys.command("create")
@click.option("--key", "value", default=None, help="The key's value (default: generated).")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@_policy_options
def create_cmd(value: str | None, disabled: bool, as_json: bool, **opts: Any) -> None:
    """Create a key; its value is printed once."""
    from state.keys_store import DuplicateKey, insert_keys

    body = {**_body(opts), "key": value, "is_active": not disabled}
    with _db() as (thread, check):
        try:
            record, value = new_record(body, check)
            [stored] = thread.run_sync(insert_keys, [record])
        except KeyInputError as exc:
            raise click.BadParameter(exc.message) from None
        except DuplicateKey:
            raise click.ClickException("a key with this value already exists") from None
    view = {**key_view(stored, {}, time.strftime("%Y-%m-%d", time.gmtime())), "key": value}
    if as_json:
        _echo(view, True)
        return
    _echo(view, False)
    click.echo(f"key: {value}  (shown once: store it now)")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(as_json: bool) -> None:
    """Every key, with today's usage (as the database holds it)."""
    from state.keys_store import load_keys

    with _db() as (thread, _):
        _, records = thread.run_sync(load_keys)
        usage = _usage(thread, records)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    views = [key_view(r, usage.get(r.id, {}), day) for r in records]
    if as_json:
        click.echo(orjson.dumps(views, option=orjson.OPT_INDENT_2).decode())
        return
    for view in views:
        _echo(view, False)
    if not views:
        click.echo("no keys")


@keys.command("update")
@click.argument("ident")
@_policy_options
def update_cmd(ident: str, as_json: bool, **opts: Any) -> None:
    """Change a key (named by id or value); what is not given stays."""
    from state.keys_store import update_key

    with _db() as (thread, check):
        [record] = _find(thread, [ident])
        try:
            changed = changed_record(record, _body(opts), check)
        except KeyInputError as exc:
            raise click.BadParameter(exc.message) from None
        stored = thread.run_sync(update_key, changed)
    if stored is None:
        raise click.ClickException("the key was deleted meanwhile")
    _echo(key_view(stored, {}, time.strftime("%Y-%m-%d", time.gmtime())), as_json)


def _set_enabled(idents: Sequence[str], enabled: bool) -> None:
    from state.keys_store import set_enabled

    with _db() as (thread, _):
        records = _find(thread, idents)
        n = thread.run_sync(set_enabled, [r.id for r in records], enabled)
    click.echo(f"{'enabled' if enabled else 'disabled'} {n} key(s)")


@keys.command("enable")
@click.argument("idents", nargs=-1, required=True)
def enable_cmd(idents: tuple[str, ...]) -> None:
    """Enable keys (by id or value)."""
    _set_enabled(idents, True)


@keys.command("disable")
@click.argument("idents", nargs=-1, required=True)
def disable_cmd(idents: tuple[str, ...]) -> None:
    """Disable keys (by id or value): their requests get 401."""
    _set_enabled(idents, False)


@keys.command("delete")
@click.argument("idents", nargs=-1, required=True)
def delete_cmd(idents: tuple[str, ...]) -> None:
    """Delete keys (by id or value) and their counters."""
    from state.keys_store import delete_keys

    with _db() as (thread, _):
        records = _find(thread, idents)
        n = thread.run_sync(delete_keys, [r.id for r in records])
    click.echo(f"deleted {n} key(s)")
