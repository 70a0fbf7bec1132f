"""`grok2api accounts enable|disable|nsfw`: operator status changes and the NSFW sequence,
straight on the account database; a running server sees the changes at its next sync.
Registered on the `accounts` group by `ops.cli_accounts`."""
from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click
import orjson

from ops.cli_accounts import _settings, _store, accounts, parse_tokens
from state.account import Account, token_label
from state.pool import AccountPool

if TYPE_CHECKING:  # pragma: no cover
    from state.settings import Settings

__all__ = ["disable_cmd", "enable_cmd", "nsfw_cmd"]

_LIVE = ("active", "cooling")


def _emit(results: list[tuple[str, dict[str, Any]]], as_json: bool, verb: str,
          describe: Any) -> None:
    """Print (token, result) pairs as refresh does: a table or JSON (tokens masked); exit 1
    when any failed."""
    ok = sum(bool(r["ok"]) for _, r in results)
    if as_json:
        out = {"status": "success",
               "summary": {"total": len(results), "ok": ok, "fail": len(results) - ok},
               "results": {token_label(t): r for t, r in results}}
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        for token, result in results:
            click.echo(f"{token_label(token):<11}  {'ok' if result['ok'] else 'FAIL':<4}  "
                       f"{describe(result)}")
        click.echo(f"{verb} {ok}, failed {len(results) - ok}")
    if ok < len(results):
        sys.exit(1)


def _need_tokens(tokens: tuple[str, ...], all_accounts: bool) -> list[str]:
    if not tokens and not all_accounts:
        raise click.UsageError("give one or more tokens, or --all")
    return parse_tokens(tokens)


def _load_pool(rows: list[Account]) -> AccountPool:
    pool = AccountPool(None)
    pool.load(rows)
    return pool


def _set_status(tokens: tuple[str, ...], all_accounts: bool, as_json: bool, enable: bool) -> None:
    wanted = _need_tokens(tokens, all_accounts)
    results: list[tuple[str, dict[str, Any]]] = []
    with _store() as (thread, store):
        rows = thread.run_sync(store.list, include_deleted=True)
        if all_accounts:
            wanted.extend(a.token for a in rows if a.deleted_at is None and (
                a.status in ("expired", "disabled") if enable else a.status in _LIVE))
        pool = _load_pool(rows)
        touched: list[Account] = []
        for token in dict.fromkeys(wanted):
            acc = pool.get(token)
            if acc is None or acc.deleted_at is not None:
                results.append((token, {"ok": False, "error": "unknown account" if acc is None
                                        else "account deleted"}))
                continue
            if enable:
                pool.enable(token)
            else:
                pool.disable(token)
            touched.append(acc)
            results.append((token, {"ok": True, "status": acc.status}))
        if touched:
            thread.run_sync(store.save, touched)
    _emit(results, as_json, "enabled" if enable else "disabled",
          lambda r: r.get("status") or r.get("error", ""))


@accounts.command("enable")
@click.argument("tokens", nargs=-1)
@click.option("--all", "all_accounts", is_flag=True, help="Every expired or disabled account.")
@click.option("--json", "as_json", is_flag=True, help="Results as JSON (tokens masked).")
def enable_cmd(tokens: tuple[str, ...], all_accounts: bool, as_json: bool) -> None:
    """Restore TOKEN… (or --all) to active: failure counters, cooldown and expiry cleared,
    and the quota a 429 left at zero reopened as unknown (`refresh` reads the real numbers),
    so the account serves the next request. Deleted accounts are not touched (import them
    again)."""
    _set_status(tokens, all_accounts, as_json, True)


@accounts.command("disable")
@click.argument("tokens", nargs=-1)
@click.option("--all", "all_accounts", is_flag=True, help="Every live (active or cooling) account.")
@click.option("--json", "as_json", is_flag=True, help="Results as JSON (tokens masked).")
def disable_cmd(tokens: tuple[str, ...], all_accounts: bool, as_json: bool) -> None:
    """Take TOKEN… (or --all) out of rotation until enabled again."""
    _set_status(tokens, all_accounts, as_json, False)


async def _nsfw(pool: AccountPool, tokens: list[str], settings: Settings, enable: bool,
                progress: Any) -> list[dict[str, Any]]:
    """The NSFW sequence for `tokens` in a throwaway pool, straight against grok.com."""
    from addons.services.nsfw import nsfw_many
    from addons.upstream.config import UpstreamConfig
    from addons.upstream.transport import CurlTransport

    concurrency = max(1, settings.options.batch.nsfw_concurrency)
    transport = CurlTransport(UpstreamConfig.from_settings(settings),
                              max_clients=concurrency + 8)
    services = SimpleNamespace(pool=pool, transport=transport, settings=settings)
    try:
        return await nsfw_many(services, tokens, enable=enable, concurrency=concurrency,
                               progress=progress)
    finally:
        await transport.aclose()


def _nsfw_line(result: dict[str, Any]) -> str:
    parts = [f"{step} {outcome}" for step, outcome in result.get("steps", {}).items()]
    if not result["ok"]:
        where = result.get("failed_step")
        parts.append(f"{where}: {result.get('error', '')}" if where else result.get("error", ""))
        if result.get("expired"):
            parts.append(f"expired ({result['expired']})")
    return ", ".join(parts)


@accounts.command("nsfw")
@click.argument("tokens", nargs=-1)
@click.option("--all", "all_accounts", is_flag=True, help="Every live (active or cooling) account.")
@click.option("--off", is_flag=True, help="Turn NSFW off (and drop the tag) instead.")
@click.option("--json", "as_json", is_flag=True, help="Results as JSON (tokens masked).")
def nsfw_cmd(tokens: tuple[str, ...], all_accounts: bool, off: bool, as_json: bool) -> None:
    """Enable NSFW content for TOKEN… (or --all): accept the terms of service, set a random
    adult birth date (one already set is kept), turn the NSFW feature control on, tag `nsfw`.
    With --off only the feature control is turned off and the tag dropped. An
    invalid-credential answer marks the account expired. Progress goes to stderr."""
    wanted = _need_tokens(tokens, all_accounts)
    settings = _settings()

    def progress(done: int, total: int, result: dict[str, Any]) -> None:
        click.echo(f"[{done}/{total}] {result['token']} {'ok' if result['ok'] else 'failed'}",
                   err=True)

    with _store() as (thread, store):
        rows = thread.run_sync(store.list, include_deleted=True)
        if all_accounts:
            wanted.extend(a.token for a in rows if a.deleted_at is None and a.status in _LIVE)
        wanted = list(dict.fromkeys(wanted))
        click.echo(f"{'disabling' if off else 'enabling'} NSFW on {len(wanted)} account(s)",
                   err=True)
        pool = _load_pool(rows)
        found = asyncio.run(_nsfw(pool, wanted, settings, not off, progress))
        results = list(zip(wanted, found))
        touched = [a for a in (pool.get(t) for t, r in results if r["ok"] or r.get("expired"))
                   if a is not None]
        if touched:
            thread.run_sync(store.save, touched)
    _emit(results, as_json, "disabled" if off else "enabled", _nsfw_line)
