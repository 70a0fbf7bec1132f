"""`grok2api db migrate|status`: the account database's numbered schema migrations
(`state.migrations`). The server migrates at startup too; `migrate` lets a deploy step do it
ahead of the workers, `status` tells whether one is pending."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson

from state.boot import BootConfig, BootError
from state.db import normalize_url
from state.db_check import DatabaseUnavailable, open_checked
from state.dbthread import DBThread
from state.migrations import current_version, latest_version, migrate

__all__ = ["db"]


def _backend(boot: BootConfig) -> str:
    """Where the database is, without credentials: `sqlite <path>` or the URL's scheme."""
    if not boot.database_url:
        return f"sqlite {boot.account_local_path}"
    try:
        return normalize_url(boot.database_url)[0]
    except ValueError:
        return "unknown"


@contextmanager
def _database() -> Iterator[tuple[DBThread, Any, str]]:
    try:
        boot = BootConfig.from_env()
        database = open_checked(boot)
    except (BootError, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    thread = DBThread(database)
    try:
        yield thread, database, _backend(boot)
    finally:
        thread.close()


@click.group("db")
def db() -> None:
    """The account database schema."""


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def status_cmd(as_json: bool) -> None:
    """Show the applied and the latest schema version; exit 1 if migrations are pending."""
    with _database() as (thread, database, backend):
        current = thread.run_sync(current_version, database)
    latest = latest_version()
    pending = max(0, latest - current)
    if as_json:
        click.echo(orjson.dumps({"database": backend, "current": current, "latest": latest,
                                 "pending": pending}, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(f"database: {backend}")
        click.echo(f"schema version: {current} (latest {latest})")
        click.echo(f"{pending} migration(s) pending" if pending else "up to date")
    if pending:
        raise SystemExit(1)


@db.command("migrate")
def migrate_cmd() -> None:
    """Apply every pending migration (idempotent; safe while servers run)."""
    with _database() as (thread, database, backend):
        before = thread.run_sync(current_version, database)
        after = thread.run_sync(migrate, database)
    click.echo(f"database: {backend}")
    if after == before:
        click.echo(f"schema already at version {after}")
    else:
        click.echo(f"schema migrated from version {before} to {after}")
