"""`grok2api accounts import|list|export|delete|refresh`: manage the account database
directly (the server need not run; a running one sees the changes at its next sync).
`enable`, `disable` and `nsfw` live in `ops.cli_account_actions`, registered below."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from state.account import POOLS, STATUSES, Account, token_label, normalize_token
from state.boot import BootConfig, BootError
from state.db_check import DatabaseUnavailable, open_checked
from state.dbthread import DBThread
from state.importing import decode_import, parse_import
from state.migrations import migrate
from state.store import AccountStore

if TYPE_CHECKING:  # pragma: no cover
    from addons.services.quota_refresh import RefreshResult
    from state.pool import AccountPool
    from state.settings import Settings

__all__ = ["accounts", "token_label", "parse_tokens"]


def parse_tokens(tokens: Sequence[str]) -> list[str]:
    """Normalised TOKENS arguments; a usage error names the first bad one."""
    wanted: list[str] = []
    for raw in tokens:
        try:
            wanted.append(normalize_token(raw))
        except ValueError:
            raise click.BadParameter(f"not a token: {raw!r}", param_hint="TOKENS") from None
    return wanted


@contextmanager
def _store() -> Iterator[tuple[DBThread, AccountStore]]:
    try:
        boot = BootConfig.from_env()
        db = open_checked(boot)
    except (BootError, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    thread = DBThread(db)
    try:
        thread.run_sync(migrate, db)
        yield thread, AccountStore(db)
    finally:
        thread.close()


def _fmt_ms(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def _quota_summary(acc: Account) -> str:
    return " ".join(f"{m}:{w.remaining}/{w.total}" for m, w in sorted(acc.quota.items()))


def _public(acc: Account) -> dict[str, object]:
    return {
        "token": acc.token, "pool": acc.pool, "status": acc.status,
        "quota": {m: w.to_dict() for m, w in acc.quota.items()}, "tags": acc.tags,
        "note": acc.note, "usage_use_count": acc.usage_use_count,
        "usage_fail_count": acc.usage_fail_count, "usage_sync_count": acc.usage_sync_count,
        "consecutive_failures": acc.consecutive_failures, "last_use_at": acc.last_use_at,
        "last_fail_at": acc.last_fail_at, "last_fail_reason": acc.last_fail_reason,
        "last_sync_at": acc.last_sync_at, "state_reason": acc.state_reason,
        "cooldown_until": acc.cooldown_until, "created_at": acc.created_at,
        "updated_at": acc.updated_at, "deleted_at": acc.deleted_at, "ext": acc.ext,
    }


@click.group("accounts")
def accounts() -> None:
    """Manage grok.com accounts (SSO tokens) in the account database."""


@accounts.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--pool", type=click.Choice(["auto", *POOLS]), default="auto", show_default=True,
              help="Pool for every token; auto stores them as basic until the first quota "
                   "refresh, and keeps the pools of a JSON export.")
@click.option("--tag", "tags", multiple=True, help="Tag added to every imported token.")
def import_cmd(source: IO[bytes], pool: str, tags: tuple[str, ...]) -> None:
    """Import tokens from FILE (or - for stdin): one per line (bare, quoted, sso=… or a
    cookie string; a BOM, zero-width spaces and Windows line ends are dropped), or a JSON
    export by pool. Existing tokens are skipped, deleted ones restored. Lines that are not a
    token are reported by number (exit 1) and the valid ones imported all the same; a running
    server picks the new accounts up at its next database sync."""
    try:
        text = decode_import(source.read())
    except ValueError as exc:
        raise click.ClickException(f"{source.name}: {exc}") from None
    result = parse_import(text)
    forced = None if pool == "auto" else pool
    items = [(t.token, forced or t.pool, [*t.tags, *tags]) for t in result.tokens]
    summary = None
    if items:
        with _store() as (thread, store):
            summary = thread.run_sync(store.import_tokens, items, default_pool="basic")
    added = summary.added if summary else 0
    restored = summary.restored if summary else 0
    skipped = (summary.skipped if summary else 0) + result.duplicates
    click.echo(f"added {added}, restored {restored}, skipped {skipped} "
               f"(already present or duplicate), errors {len(result.errors)}")
    for line_no, message in result.errors:
        where = f"line {line_no}" if line_no else "item"
        click.echo(f"  {where}: {message}", err=True)
    if result.errors:
        sys.exit(1)


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Full records (unmasked tokens) as JSON.")
@click.option("--pool", type=click.Choice(POOLS), default=None)
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--deleted", is_flag=True, help="Include soft-deleted accounts.")
def list_cmd(as_json: bool, pool: str | None, status: str | None, deleted: bool) -> None:
    """List accounts; tokens are masked in the table."""
    with _store() as (thread, store):
        rows = thread.run_sync(store.list, pool, status, include_deleted=deleted)
    if as_json:
        click.echo(orjson.dumps([_public(a) for a in rows], option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no accounts")
        return
    header = f"{'token':<11}  {'pool':<5}  {'status':<8}  {'uses':>6}  {'fails':>5}  " \
             f"{'last use':<16}  quota"
    click.echo(header)
    for acc in rows:
        status_text = "deleted" if acc.deleted_at is not None else acc.status
        click.echo(f"{token_label(acc.token):<11}  {acc.pool:<5}  {status_text:<8}  "
                   f"{acc.usage_use_count:>6}  {acc.usage_fail_count:>5}  "
                   f"{_fmt_ms(acc.last_use_at):<16}  {_quota_summary(acc)}")
    click.echo(f"{len(rows)} account(s)")


@accounts.command("export")
@click.option("--pool", type=click.Choice(POOLS), default=None)
def export_cmd(pool: str | None) -> None:
    """Print live accounts as JSON by pool: {"basic": [{"token", "tags"}], …}."""
    with _store() as (thread, store):
        rows = thread.run_sync(store.list, pool)
    out: dict[str, list[dict[str, object]]] = {}
    for acc in rows:
        out.setdefault(acc.pool, []).append({"token": acc.token, "tags": acc.tags})
    click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


@accounts.command("delete")
@click.argument("tokens", nargs=-1)
@click.option("--all-invalid", is_flag=True, help="Delete every expired or disabled account.")
def delete_cmd(tokens: tuple[str, ...], all_invalid: bool) -> None:
    """Soft-delete TOKEN… (importing one again restores it)."""
    if not tokens and not all_invalid:
        raise click.UsageError("give one or more tokens, or --all-invalid")
    wanted = parse_tokens(tokens)
    with _store() as (thread, store):
        if all_invalid:
            wanted.extend(thread.run_sync(store.invalid_tokens))
        count = thread.run_sync(store.delete, wanted)
    click.echo(f"deleted {count} account(s)")
    missing = len(set(wanted)) - count
    if tokens and missing > 0:
        click.echo(f"{missing} token(s) not found or already deleted", err=True)


def _settings() -> Settings:
    from state.settings import Settings

    try:
        return Settings.from_boot(BootConfig.from_env())
    except (BootError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


async def _refresh(rows: Sequence[Account], tokens: Sequence[str], settings: Settings,
                   progress: Any) -> tuple[AccountPool, list[RefreshResult]]:
    """Refresh `tokens` in a throwaway pool over `rows`, straight against grok.com."""
    from addons.services.quota_refresh import QuotaRefresher
    from addons.upstream.config import UpstreamConfig
    from addons.upstream.transport import CurlTransport
    from state.pool import AccountPool

    pool = AccountPool(None)
    pool.load(rows)
    concurrency = max(1, settings.options.account.refresh.usage_concurrency)
    transport = CurlTransport(UpstreamConfig.from_settings(settings),
                              max_clients=concurrency + 8)
    try:
        refresher = QuotaRefresher(pool, transport, settings)
        return pool, await refresher.refresh_many(tokens, progress)
    finally:
        await transport.aclose()


def _result_line(result: RefreshResult, acc: Account | None) -> str:
    head = f"{token_label(result.token):<11}  {'ok' if result.ok else 'FAIL':<4}"
    parts = []
    if acc is not None:
        parts.append(f"{result.moved[0]}→{acc.pool}" if result.moved else acc.pool)
    if result.refreshed:
        parts.append(" ".join(f"{m}:{r}/{t}" for m, (r, t) in result.refreshed.items()))
    if result.estimated:
        parts.append("estimated " + ",".join(result.estimated))
    if result.expired:
        parts.append(f"expired ({result.expired})")
    elif result.error:
        parts.append(result.error)
    return "  ".join([head, *parts])


@accounts.command("refresh")
@click.argument("tokens", nargs=-1)
@click.option("--all", "all_accounts", is_flag=True, help="Every live (active or cooling) account.")
@click.option("--json", "as_json", is_flag=True, help="Results as JSON (tokens masked).")
def refresh_cmd(tokens: tuple[str, ...], all_accounts: bool, as_json: bool) -> None:
    """Query grok.com's rate limits for TOKEN… (or --all) and store the real quota. The
    `auto` total also settles the pool (an import with pool auto is stored as basic);
    an invalid-credential answer marks the account expired. Progress goes to stderr."""
    if not tokens and not all_accounts:
        raise click.UsageError("give one or more tokens, or --all")
    wanted = parse_tokens(tokens)
    settings = _settings()

    def progress(done: int, total: int, result: RefreshResult) -> None:
        click.echo(f"[{done}/{total}] {token_label(result.token)} "
                   f"{'ok' if result.ok else 'failed'}", err=True)

    with _store() as (thread, store):
        rows = thread.run_sync(store.list, include_deleted=True)
        if all_accounts:
            wanted.extend(a.token for a in rows
                          if a.deleted_at is None and a.status in ("active", "cooling"))
        wanted = list(dict.fromkeys(wanted))
        click.echo(f"refreshing {len(wanted)} account(s)", err=True)
        pool, results = asyncio.run(_refresh(rows, wanted, settings, progress))
        touched = [a for a in (pool.get(r.token) for r in results
                               if r.ok or r.estimated or r.expired) if a is not None]
        if touched:
            thread.run_sync(store.save, touched)
    ok = sum(r.ok for r in results)
    if as_json:
        out = {"status": "success",
               "summary": {"total": len(results), "ok": ok, "fail": len(results) - ok},
               "results": {token_label(r.token): r.to_dict() for r in results}}
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        for result in results:
            click.echo(_result_line(result, pool.get(result.token)))
        click.echo(f"refreshed {ok}, failed {len(results) - ok}")
    if ok < len(results):
        sys.exit(1)


# enable, disable, nsfw: registered on `accounts` on import (kept apart for size)
from ops import cli_account_actions  # noqa: E402,F401
