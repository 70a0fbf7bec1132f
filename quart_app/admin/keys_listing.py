"""The client-key listing of the keys page: the stat cards' counts over every key, and the
keys a search, a status filter, an order and a page select (all on the server, so a page of
a large key table stays small). Works on the views `state.keys_input.key_view` makes."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quart_app.admin.keys_schemas import ListKeysQuery

__all__ = ["DEFAULT_PAGE_SIZE", "counts", "exhausted", "select", "used_today"]

DEFAULT_PAGE_SIZE = 50
#: the daily request kinds (tokens are not requests)
_REQUEST_KINDS = ("chat", "image", "video")


def exhausted(view: dict[str, Any]) -> bool:
    """A daily limit of the key is used up today."""
    return any(left == 0 for left in view["remaining_today"].values())


def used_today(view: dict[str, Any]) -> int:
    """What the key was charged today, as chat requests, images and videos."""
    used = view["usage_today"]
    return sum(int(used.get(f"{kind}_used", 0)) for kind in _REQUEST_KINDS)


def counts(views: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The stat cards: keys by state, and today's use over all of them."""
    out = {"total": 0, "active": 0, "disabled": 0, "expired": 0, "exhausted": 0,
           "used_today": 0, "tokens_today": 0}
    for view in views:
        out["total"] += 1
        out[view["status"]] += 1
        out["exhausted"] += exhausted(view)
        out["used_today"] += used_today(view)
        out["tokens_today"] += int(view["usage_today"].get("tokens_used", 0))
    return out


def _matches(view: dict[str, Any], query: ListKeysQuery) -> bool:
    if query.status == "exhausted":
        if not exhausted(view):
            return False
    elif query.status is not None and view["status"] != query.status:
        return False
    if query.q:
        needle = query.q.strip().lower()
        return any(needle in str(view[f]).lower() for f in ("name", "id", "display_key"))
    return True


def _sort_key(field: str):
    if field == "used_today":
        return used_today
    if field == "name":
        return lambda v: v["name"].lower()
    return lambda v: v[field] or 0  # never used / never expires sort first


def select(views: list[dict[str, Any]], query: ListKeysQuery) -> dict[str, Any]:
    """The matching keys in order (a page of them when `page` is given): `data`, `total`
    matches, and `page` / `page_size` when paged. Newest first by default."""
    rows = [v for v in views if _matches(v, query)]
    field = query.sort or "created_at"
    descending = (query.order or ("asc" if field == "name" else "desc")) == "desc"
    if descending:  # `views` come oldest first: keys of one second stay newest first too
        rows.reverse()
    rows.sort(key=_sort_key(field), reverse=descending)
    out: dict[str, Any] = {"total": len(rows)}
    if query.page is not None or query.page_size is not None:
        page, size = query.page or 1, query.page_size or DEFAULT_PAGE_SIZE
        rows = rows[(page - 1) * size:page * size]
        out |= {"page": page, "page_size": size}
    out["data"] = rows
    return out
