"""Account files for operators: import a TXT or JSON file with a preview first, and export
the rows a filter selects.

`POST /admin/api/tokens/import` reads the file's text as `grok2api accounts import` does
(`state.importing.parse_import`: one token per line, or JSON by pool or as a list) and sorts
it into what would be added (new or soft-deleted), skipped (live already, or a repeat within
the file) and rejected (not a token, with its line). With `dry_run` that is the whole answer,
tokens masked; without it the new ones are added as `tokens/add` adds them. Unlike
`POST /admin/api/tokens` (replace pools), an import never deletes anything.

`GET /admin/api/tokens/export` streams the listing's filtered rows (same filters and sort)
as JSON by pool (`{"super": [{"token", "tags"}]}`, what `POST /admin/api/tokens` and the
import read back) or TXT, a slice at a time. The export carries the full tokens: it is the
operator's backup, behind the admin secret like the listing itself.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from quart import Response, request

from addons.errors import validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, read_json, services
from quart_app.admin.inputs import body_object, parse_pool, parse_tags
from quart_app.admin.listing import SLICE, list_accounts
from quart_app.admin.schemas import ExportTokensQuery, ImportTokens, checked_body, checked_query
from quart_app.admin.tokens import add_accounts, table_counts, token_filter
from quart_app.admin.views import mask_token
from state.account import POOLS, now_ms
from state.importing import parse_import

__all__ = ["PREVIEW_ROWS", "bp"]

bp = admin_blueprint("tokens_io")

#: Items of each list the import answer names (the counts are always whole).
PREVIEW_ROWS = 500
FORMATS = ("json", "txt")


@bp.post("/tokens/import")
async def import_tokens() -> Response:
    """`{"content": <file text>, "pool": "auto", "tags": [], "dry_run": true}` → counts and
    lists of `add` (masked token, pool, tags, `restore` for a soft-deleted one), `skipped`
    (`existing` live accounts, `duplicates` repeated in the file) and `rejected` (`line`,
    `message`; never the text). A file without one usable token is a 400 naming
    `content`, so a wrong file is not taken for an empty one."""
    body = body_object(checked_body(await read_json(), ImportTokens))
    raw_pool = body.get("pool", "auto")
    default_pool = parse_pool("auto" if raw_pool is None else raw_pool, "pool",
                              allow_auto=True)
    extra_tags = parse_tags(body.get("tags"))
    dry_run = bool(body.get("dry_run", False))
    parsed = parse_import(body["content"])
    rejected = [{"line": line, "message": message} for line, message in parsed.errors]
    if not parsed.tokens:
        why = f": {rejected[0]['message']} (line {rejected[0]['line']})" if rejected else ""
        raise validation(f"content: no usable token in the file{why}", "content")
    pool = services().pool
    add: list[dict[str, Any]] = []
    existing: list[str] = []
    items: list[tuple[str, str | None, list[str]]] = []
    for item in parsed.tokens:
        acc = pool.get(item.token)
        if acc is not None and acc.deleted_at is None:
            existing.append(mask_token(item.token))
            continue
        target = item.pool or default_pool
        tags = list(dict.fromkeys([*item.tags, *extra_tags]))
        items.append((item.token, target, tags))
        add.append({"token": mask_token(item.token), "pool": target or "auto", "tags": tags,
                    "restore": acc is not None})
    answer: dict[str, Any] = {
        "dry_run": dry_run,
        "counts": {"add": len(add), "existing": len(existing),
                   "duplicates": parsed.duplicates, "rejected": len(rejected)},
        "add": add[:PREVIEW_ROWS], "existing": existing[:PREVIEW_ROWS],
        "rejected": rejected[:PREVIEW_ROWS],
    }
    if not dry_run:
        added, synced = await add_accounts(items)
        answer.update(status="success", count=len(added), synced=synced)
    return json_response(answer)


def _txt(rows: list[Any]) -> bytes:
    return "".join(f"{acc.token}\n" for acc in rows).encode()


async def _json_by_pool(rows: list[Any]) -> AsyncIterator[bytes]:
    """`{"basic": [...], "super": [...]}` written a slice at a time, pools in their order."""
    by_pool: dict[str, list[Any]] = {}
    for acc in rows:
        by_pool.setdefault(acc.pool, []).append(acc)
    yield b"{"
    names = [p for p in POOLS if p in by_pool] + [p for p in by_pool if p not in POOLS]
    for n, name in enumerate(names):
        yield (b"," if n else b"") + orjson.dumps(name) + b":["
        members = by_pool[name]
        for first in range(0, len(members), SLICE):
            chunk = [{"token": a.token, "tags": list(a.tags)} for a in members[first:first + SLICE]]
            yield (b"," if first else b"") + orjson.dumps(chunk)[1:-1]
            await asyncio.sleep(0)
        yield b"]"
    yield b"}\n"


@bp.get("/tokens/export")
async def export_tokens() -> Response:
    """The live accounts the listing's filters select (`pool`, `status`, `tag`, `nsfw`,
    `search`, `sort`, `order`), as a download: `format=json` (by pool, with tags) or `txt`."""
    args = request.args
    query = checked_query(args, ExportTokensQuery)
    fmt = (query.format or "json").strip().lower()
    if fmt not in FORMATS:
        raise validation(f"format: expected json or txt, got {fmt!r}", "format")
    flt = token_filter(args)
    now = now_ms()
    table = services().pool.all()
    listing = await list_accounts(table, now=now, start=0, stop=None,
                                  counts=await table_counts(table, now), **flt.kwargs())
    rows = listing.rows

    async def txt() -> AsyncIterator[bytes]:
        for first in range(0, len(rows), SLICE):
            yield _txt(rows[first:first + SLICE])
            await asyncio.sleep(0)
        if not rows:
            yield b""

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    headers = {"Content-Disposition": f'attachment; filename="accounts-{stamp}.{fmt}"',
               "Cache-Control": "no-store", "X-Total-Count": str(listing.total)}
    if fmt == "txt":
        return Response(txt(), content_type="text/plain; charset=utf-8", headers=headers)
    return Response(_json_by_pool(rows), content_type="application/json", headers=headers)
