"""`grok2api cache stats|list|clear`: the local media cache under `${DATA_DIR}/media`, read
and emptied directly (the server need not run; a running one notices a removed file on the
next request for it). The work is `MediaCache`'s, as for the admin API."""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import click
import orjson

from state.boot import BootConfig, BootError

if TYPE_CHECKING:  # pragma: no cover
    from addons.services.media_cache import MediaCache

__all__ = ["cache"]

KINDS = ("image", "video")
_TYPE = click.option("--type", "kind", type=click.Choice(KINDS), default=None,
                     help="Only images or only videos (default: both).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _cache() -> MediaCache:
    from addons.services.media_cache import MediaCache
    from state.settings import Settings

    try:
        boot = BootConfig.from_env()
        settings = Settings.from_boot(boot)
    except (BootError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    return MediaCache(boot.data_dir, settings)


def _kinds(kind: str | None) -> tuple[str, ...]:
    return (kind,) if kind else KINDS


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group("cache")
def cache() -> None:
    """The local media cache (generated images and videos kept under DATA_DIR/media)."""


@cache.command("stats")
@_TYPE
@_JSON
def stats_cmd(kind: str | None, as_json: bool) -> None:
    """Files, size and limit per kind."""
    media = _cache()

    async def run() -> dict[str, dict[str, Any]]:
        return {k: (await media.stats(k)).to_dict() for k in _kinds(kind)}

    found = asyncio.run(run())
    if as_json:
        _echo_json({f"local_{k}": v for k, v in found.items()})
        return
    for k, s in found.items():
        usage = "" if s["usage_percent"] is None else f" ({s['usage_percent']}% used)"
        click.echo(f"{k:<5}  {s['count']:>6} file(s)  {s['size_mb']:>10.2f} MiB of "
                   f"{s['limit_mb']:.0f} MiB{usage}")


@cache.command("list")
@click.option("--type", "kind", type=click.Choice(KINDS), default="image", show_default=True)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@_JSON
def list_cmd(kind: str, page: int, page_size: int, as_json: bool) -> None:
    """Cached files of one kind, newest first."""
    from addons.services.media_cache import item_view

    listing = asyncio.run(_cache().list(kind, page, page_size))
    items = [item_view(m) for m in listing.items]
    if as_json:
        _echo_json({"total": listing.total, "page": page, "page_size": page_size,
                    "items": items})
        return
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["modified_at"] / 1000))
        click.echo(f"{item['name']}  {item['size_bytes']:>12}  {when}")
    shown = f", page {page}" if listing.total > page_size or page > 1 else ""
    click.echo(f"{listing.total} {kind} file(s){shown}")


@cache.command("clear")
@_TYPE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_JSON
def clear_cmd(kind: str | None, yes: bool, as_json: bool) -> None:
    """Delete every cached file (of one kind with --type). Links handed out for them stop
    working."""
    kinds = _kinds(kind)
    if not yes:
        click.confirm(f"Delete every cached {' and '.join(kinds)} file?", abort=True)
    media = _cache()

    async def run() -> dict[str, int]:
        return {k: await media.clear(k) for k in kinds}

    removed = asyncio.run(run())
    if as_json:
        _echo_json({"removed": removed})
        return
    for k, n in removed.items():
        click.echo(f"removed {n} {k} file(s)")
