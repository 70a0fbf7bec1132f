"""The account table for operators: list with paging and filters, add, edit, delete, delete
the invalid ones, disable and restore. Pool replacement (imports) is in `replace.py`.

Every change goes through the in-memory pool, so it applies at once in this process, and is
marked urgent on the write-behind writer, so it reaches the database (and the other workers)
without the usual delay. Input is validated before anything changes; only `add` takes the
good tokens of a list that also holds bad ones (and lists the bad ones in its answer).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quart import Response, request

from addons.errors import ApiError, validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import admin_state, json_response, read_json, services
from quart_app.admin.inputs import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    admin_token,
    body_bool,
    body_object,
    parse_pool,
    parse_tags,
    query_bool,
    query_int,
    token_items,
    token_list,
)
from quart_app.admin.listing import SORT_KEYS, list_accounts, tally, views
from quart_app.admin.schemas import (
    AddTokens, EditToken, ListTokensQuery, PurgeQuery, SetDisabled, SetDisabledBatch,
    TokensBody, checked_body, checked_query,
)
from quart_app.admin.views import FILTER_STATUSES, mask_token
from state.account import now_ms

__all__ = ["TokenFilter", "add_accounts", "bp", "not_found", "table_counts", "token_filter"]

bp = admin_blueprint("tokens")
MAX_NOTE_LEN = 2000


def not_found(token: str) -> ApiError:
    return ApiError(404, f"Account {mask_token(token)} not found", type="validation_error",
                    code="account_not_found", param="token")


def _live(token: str) -> Any:
    acc = services().pool.get(token)
    if acc is None or acc.deleted_at is not None:
        raise not_found(token)
    return acc


@dataclass(frozen=True, slots=True)
class TokenFilter:
    """The listing's filters and order as the query string gave them, checked."""

    pool: str | None
    status: str | None
    tag: str | None
    nsfw: bool | None
    search: str | None
    sort: str | None
    descending: bool

    def kwargs(self) -> dict[str, Any]:
        return {"pool": self.pool, "status": self.status, "tag": self.tag, "nsfw": self.nsfw,
                "search": self.search, "sort": self.sort, "descending": self.descending}


def token_filter(args: Mapping[str, str]) -> TokenFilter:
    """`pool`, `status`, `tag`, `nsfw`, `search` (or `q`), `sort`, `order` → a 400 naming
    the parameter, or the filter."""
    pool = parse_pool(args["pool"], "pool") if args.get("pool", "").strip() else None
    status = (args.get("status") or "").strip().lower() or None
    if status == "all":
        status = None
    if status is not None and status not in FILTER_STATUSES:
        raise validation(f"status: unknown filter {status!r} (use {', '.join(FILTER_STATUSES)})",
                         "status")
    tag = (args.get("tag") or "").strip() or None
    nsfw = query_bool(args, "nsfw", False) if args.get("nsfw", "").strip() else None
    search = (args.get("search") or args.get("q") or "").strip() or None
    sort = (args.get("sort") or "").strip().lower() or None
    if sort is not None and sort not in SORT_KEYS:
        raise validation(f"sort: unknown field {sort!r} (use {', '.join(SORT_KEYS)})", "sort")
    order = (args.get("order") or "asc").strip().lower()
    if order not in ("asc", "desc"):
        raise validation(f"order: expected asc or desc, got {order!r}", "order")
    return TokenFilter(pool, status, tag, nsfw, search, sort, order == "desc")


async def table_counts(table: list[Any], now: int) -> dict[str, Any]:
    """The counts of the filter chips and stat cards: kept between pages, recounted behind
    the answer once they are older than the cache's ttl (`CountsCache`)."""
    cache = admin_state().counts
    counts = cache.get()
    if counts is None:
        counts = await tally(table, now)
        cache.put(counts)
    elif cache.stale():
        cache.refresh(lambda: tally(table, now_ms()))
    return counts


@bp.get("/tokens")
async def list_tokens() -> Response:
    """All live accounts, or one page when `page` or `page_size` is given; filters `pool`,
    `status` (active | exhausted | invalid | cooling | expired | disabled | deleted), `tag`,
    `nsfw` (true/false) and `search` (part of the token or the note); `sort` (a field of
    `SORT_KEYS`, default the table order) and `order` (asc | desc). Filtering, counting,
    sorting and paging happen here, in slices that let the proxied requests run between
    them (`listing.py`); `counts` (chips and stat cards, over every account) may be up to
    `listing.COUNTS_TTL` old unless an operator changed something since."""
    args = request.args
    checked_query(args, ListTokensQuery)
    flt = token_filter(args)
    paged = "page" in args or "page_size" in args
    page = query_int(args, "page", 1, low=1)
    page_size = query_int(args, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)

    svc = services()
    now = now_ms()
    start, stop = ((page - 1) * page_size, page * page_size) if paged else (0, None)
    table = svc.pool.all()
    listing = await list_accounts(table, now=now, start=start, stop=stop,
                                  counts=await table_counts(table, now), **flt.kwargs())
    body: dict[str, Any] = {"total": listing.total, "revision": svc.accounts.revision,
                            "counts": listing.counts}
    if paged:
        body.update(page=page, page_size=page_size)
    body["tokens"] = await views(listing.rows, now)
    return json_response(body)


async def add_accounts(items: Sequence[tuple[str, str | None, list[str]]]
                       ) -> tuple[list[str], bool]:
    """Add (or restore) each `(token, pool, tags)`; pool None = auto: stored as basic, its
    tier detected now. The others' quota is synced in the background (quota strategy only:
    the random one never probes). → (the tokens added, whether the auto ones were synced)."""
    svc = services()
    added = [t for t, pool, tags in items if svc.pool.add(t, pool or "basic", tags)]
    fresh = set(added)
    auto = [t for t, pool, _ in items if pool is None and t in fresh]
    known = [t for t, pool, _ in items if pool is not None and t in fresh]
    synced = False
    if svc.refresher is not None:
        if auto:
            await svc.refresher.refresh_many(auto)
            synced = True
        if known and svc.refresher.enabled:
            admin_state().spawn(svc.refresher.refresh_many(known), "admin-add-refresh")
    return added, synced


@bp.post("/tokens/add")
async def add_tokens() -> Response:
    """New tokens are added, soft-deleted ones restored, live ones skipped untouched.
    `pool: "auto"` stores them as basic and detects the tier now (`synced: true`); otherwise
    their quota is synced in the background (quota strategy only: the random one never
    probes).

    Each token is cleaned first (BOM, zero-width spaces, `\r`, quotes, `sso=`). Items that
    are still not a token do not stop the others: the answer counts them in `invalid` and
    lists each in `errors` (`index`, `param`, `message`; never the text). Only a list with
    no usable token at all is a 400."""
    body = body_object(checked_body(await read_json(), AddTokens))
    tokens, problems = token_items(body.get("tokens"))
    raw_pool = body.get("pool", "auto")
    pool = parse_pool("auto" if raw_pool is None else raw_pool, "pool", allow_auto=True)
    tags = parse_tags(body.get("tags"))
    if not tokens:
        first = problems[0]
        more = f" ({len(problems)} items refused, none usable)" if len(problems) > 1 else ""
        raise validation(first.message + more, first.param)
    added, synced = await add_accounts([(t, pool, tags) for t in tokens])
    return json_response({"status": "success", "count": len(added),
                          "skipped": len(tokens) - len(added), "synced": synced,
                          "invalid": len(problems),
                          "errors": [p._asdict() for p in problems]})


@bp.put("/tokens/edit")
async def edit_token() -> Response:
    """Change an account's token value and/or pool (tags, note too), keeping its stats."""
    body = body_object(checked_body(await read_json(), EditToken))
    old = admin_token(body.get("old_token"), "old_token")
    new = admin_token(body["token"], "token") if body.get("token") is not None else old
    pool = parse_pool(body["pool"], "pool") if body.get("pool") is not None else None
    tags = parse_tags(body["tags"]) if body.get("tags") is not None else None
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_LEN):
        raise validation(f"note: expected a string of at most {MAX_NOTE_LEN} characters", "note")
    svc = services()
    acc = _live(old)
    if new != old:
        other = svc.pool.get(new)
        if other is not None and other.deleted_at is None:
            raise ApiError(409, f"Account {mask_token(new)} already exists",
                           type="validation_error", code="token_conflict", param="token")
        acc = svc.pool.rename(old, new)
    if pool is not None:
        svc.pool.set_pool(new, pool)
    if tags is not None:
        acc.tags = tags
    if note is not None:
        acc.note = note
    svc.pool.save_now(acc)
    return json_response({"status": "success", "token": acc.token, "pool": acc.pool})


@bp.delete("/tokens")
async def delete_tokens() -> Response:
    """Soft delete (re-adding restores). Body: a JSON array, or `{"tokens": [...]}`. An unknown
    token is a 404 and nothing is deleted; an already deleted one is not counted."""
    body = checked_body(await read_json(), TokensBody)
    raw = body.get("tokens") if isinstance(body, dict) else body
    tokens = token_list(raw)
    pool = services().pool
    missing = [t for t in tokens if pool.get(t) is None]
    if missing:
        raise not_found(missing[0])
    return json_response({"deleted": sum(pool.delete(t) for t in tokens)})


@bp.delete("/tokens/invalid")
async def delete_invalid() -> Response:
    """Delete every live account that is expired or disabled (the UI's "invalid").
    `dry_run=true` deletes nothing and says how many would go (`would_delete`, by stored
    status), for the page's preview."""
    checked_query(request.args, PurgeQuery)
    dry_run = query_bool(request.args, "dry_run", False)
    pool = services().pool
    doomed = [a for a in pool.all()
              if a.deleted_at is None and a.status in ("expired", "disabled")]
    if dry_run:
        by_status = {s: sum(a.status == s for a in doomed) for s in ("expired", "disabled")}
        return json_response({"dry_run": True, "deleted": 0, "would_delete": len(doomed),
                              "by_status": by_status})
    return json_response({"deleted": sum(pool.delete(a.token) for a in doomed)})


def _set_disabled(token: str, disabled: bool) -> bool:
    pool = services().pool
    return pool.disable(token) if disabled else pool.enable(token)


def _reread_quota(tokens: list[str]) -> None:
    """Accounts just enabled: the pool reopened the modes a 429 had left at zero with their
    quota unknown; read the real numbers in the background when the scheduler may probe."""
    svc = services()
    if tokens and svc.refresher is not None and svc.refresher.enabled:
        admin_state().spawn(svc.refresher.refresh_many(tokens), "admin-enable-refresh")


@bp.post("/tokens/disabled")
async def set_disabled() -> Response:
    """Disable (`operator_disabled`) or restore: failures, cooldown and expiry cleared, and the
    account serves the next request (modes a 429 emptied are reopened, their quota re-read)."""
    body = body_object(checked_body(await read_json(), SetDisabled))
    token = admin_token(body.get("token"))
    disabled = body_bool(body, "disabled")
    _live(token)
    if _set_disabled(token, disabled) and not disabled:
        _reread_quota([token])
    return json_response({"status": "success", "token": token, "disabled": disabled})


@bp.post("/tokens/disabled/batch")
async def set_disabled_batch() -> Response:
    """Per token; an unknown or deleted one counts as a failure (listed masked)."""
    body = body_object(checked_body(await read_json(), SetDisabledBatch))
    tokens = token_list(body.get("tokens"))
    disabled = body_bool(body, "disabled")
    pool = services().pool
    failed = [t for t in tokens if (a := pool.get(t)) is None or a.deleted_at is not None
              or not _set_disabled(t, disabled)]
    if not disabled:
        refused = set(failed)
        _reread_quota([t for t in tokens if t not in refused])
    return json_response({"status": "success", "disabled": disabled,
                          "summary": {"total": len(tokens), "ok": len(tokens) - len(failed),
                                      "fail": len(failed)},
                          "failed": [mask_token(t) for t in failed]})
