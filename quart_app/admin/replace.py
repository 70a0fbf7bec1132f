"""Pool replacement: the JSON import of the admin page.

`POST /admin/api/tokens` with `{"<pool>": ["tok", {"token": "tok2", "tags": ["nsfw"]}], …}`
makes every listed pool hold exactly these tokens; `PUT /admin/api/tokens/pool` (alias
`PUT /admin/api/pool`) does the same for one pool. Destructive by design: a live account of a
listed pool that is not listed is soft-deleted. Pools not listed are untouched, except that a
listed token found there moves to its listed pool. A listed pool with no tokens is refused
(it would delete the whole pool: use `DELETE /admin/api/tokens` for that)."""
from __future__ import annotations

from typing import Any

from quart import Response

from addons.errors import validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, read_json
from quart_app.admin.common import services as _services
from quart_app.admin.schemas import ReplaceOnePool, ReplacePools, checked_body
from quart_app.admin.inputs import admin_token, body_object, parse_pool, parse_tags, token_list

__all__ = ["Wanted", "apply_replace", "bp", "parse_pool_file"]

bp = admin_blueprint("replace")

#: pool → [(token, tags or None to keep the account's own)]
Wanted = dict[str, list[tuple[str, list[str] | None]]]


def _item(raw: Any, where: str) -> tuple[str, list[str] | None]:
    if isinstance(raw, dict):
        token = admin_token(raw.get("token"), f"{where}.token")
        tags = raw.get("tags")
        return token, None if tags is None else parse_tags(tags, f"{where}.tags")
    return admin_token(raw, where), None


def parse_pool_file(body: Any) -> Wanted:
    """`{"<pool>": [token | {"token", "tags"}, …]}` → Wanted; 400 on anything doubtful."""
    body = body_object(body)
    if not body:
        raise validation("No pool given: expected {\"<pool>\": [tokens…]}")
    wanted: Wanted = {}
    seen: dict[str, str] = {}
    for name, items in body.items():
        pool = parse_pool(name, "pool")
        assert pool is not None
        if pool in wanted:
            raise validation(f"pool {pool!r} is listed twice (aliases included)", "pool")
        if not isinstance(items, list):
            raise validation(f"{name}: expected a list of tokens", name)
        if not items:
            raise validation(f"{name}: the token list is empty; a replace would delete the "
                             "whole pool", name, "empty_pool")
        entries = wanted[pool] = []
        for index, raw in enumerate(items):
            token, tags = _item(raw, f"{name}[{index}]")
            if token in seen and seen[token] != pool:
                raise validation(f"{name}[{index}]: the same token is also listed in pool "
                                 f"{seen[token]!r}", name)
            if token not in seen:
                seen[token] = pool
                entries.append((token, tags))
    return wanted


def apply_replace(pool: Any, wanted: Wanted) -> dict[str, int]:
    """Make each listed pool hold exactly its tokens (see the module docstring)."""
    listed = {token for entries in wanted.values() for token, _ in entries}
    removed = sum(pool.delete(acc.token) for acc in pool.all()
                  if acc.pool in wanted and acc.deleted_at is None and acc.token not in listed)
    added = moved = 0
    for name, entries in wanted.items():
        for token, tags in entries:
            acc = pool.get(token)
            if acc is None or acc.deleted_at is not None:
                pool.add(token, name, tags or ())
                added += 1
                if tags is not None:
                    pool.get(token).tags = list(tags)
                continue
            if acc.pool != name:
                pool.set_pool(token, name)
                moved += 1
            if tags is not None:
                acc.tags = list(tags)
            pool.save_now(acc)
    return {"count": len(listed), "added": added, "moved": moved, "removed": removed}


@bp.post("/tokens")
async def replace_pools() -> Response:
    body = checked_body(await read_json(), ReplacePools)
    summary = apply_replace(_services().pool, parse_pool_file(body))
    return json_response({"status": "success", **summary})


@bp.put("/tokens/pool")
@bp.put("/pool")
async def replace_one_pool() -> Response:
    """`{"pool": "super", "tokens": [...], "tags": []}`; `tags` are added to every listed
    account."""
    body = body_object(checked_body(await read_json(), ReplaceOnePool))
    pool = parse_pool(body.get("pool"), "pool")
    assert pool is not None
    if body.get("tokens") == []:
        raise validation("tokens: the list is empty; a replace would delete the whole pool",
                         "tokens", "empty_pool")
    tokens = token_list(body.get("tokens"))
    tags = parse_tags(body.get("tags"))
    accounts = _services().pool
    summary = apply_replace(accounts, {pool: [(t, None) for t in tokens]})
    if tags:  # added to every listed account, never a reason to drop its own (nsfw)
        for token in tokens:
            acc = accounts.get(token)
            acc.tags = list(dict.fromkeys([*acc.tags, *tags]))
            accounts.save_now(acc)
    return json_response({"pool": pool, **summary})
