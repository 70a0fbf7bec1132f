"""The local media cache for operators: stats per kind, a listing newest first, delete one or
many files, clear a kind. The work is `MediaCache`'s (`stats`, `list`, `delete`, `clear`); this
module only reads the request and shapes the answer. Every name of a request is checked
before anything is removed, so a bad one changes nothing."""
from __future__ import annotations

from typing import Any

from quart import Response, request

from addons.errors import ApiError, validation
from addons.services.media_cache import InvalidMediaName, check_name, item_view
from addons.services.media_index import KINDS
from quart_app.admin.assets_schemas import (
    DEFAULT_CACHE_PAGE, MAX_CACHE_PAGE, CacheClear, CacheItemDelete, CacheItemsDelete,
    CacheListQuery,
)
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, read_json, services
from quart_app.admin.inputs import body_object, query_int
from quart_app.admin.schemas import checked_body, checked_query

__all__ = ["bp"]

bp = admin_blueprint("cache")


def _kind(values: Any, *, default: str | None) -> str:
    """`type` (or its alias `cache_type`): image or video; `default` when neither is given."""
    raw = values.get("type")
    if raw is None or raw == "":
        raw = values.get("cache_type")
    if raw is None or raw == "":
        if default is None:
            raise validation("type: image or video is required", "type")
        return default
    if raw not in KINDS:
        raise validation(f"type: expected image or video, got {str(raw)[:40]!r}", "type")
    return raw


def _name(kind: str, raw: Any, param: str) -> str:
    try:
        return check_name(kind, raw)
    except InvalidMediaName as exc:
        code = "missing_file_name" if exc.missing else "invalid_file_name"
        raise validation(f"{param}: {exc}", param, code) from None


@bp.get("/cache")
async def cache_stats() -> Response:
    media = services().media
    return json_response({f"local_{kind}": (await media.stats(kind)).to_dict() for kind in KINDS})


@bp.get("/cache/list")
async def cache_list() -> Response:
    args = request.args
    checked_query(args, CacheListQuery)
    kind = _kind(args, default="image")
    page = query_int(args, "page", 1, low=1)
    page_size = query_int(args, "page_size", DEFAULT_CACHE_PAGE, low=1, high=MAX_CACHE_PAGE)
    listing = await services().media.list(kind, page, page_size)
    return json_response({"status": "success", "total": listing.total, "page": listing.page,
                          "page_size": listing.page_size,
                          "items": [item_view(m) for m in listing.items]})


@bp.post("/cache/clear")
async def cache_clear() -> Response:
    body = body_object(checked_body(await read_json(), CacheClear))
    removed = await services().media.clear(_kind(body, default=None))
    return json_response({"status": "success", "result": {"removed": removed}})


@bp.post("/cache/item/delete")
async def cache_item_delete() -> Response:
    body = body_object(checked_body(await read_json(), CacheItemDelete))
    kind = _kind(body, default=None)
    name = _name(kind, body.get("name"), "name")
    if not await services().media.delete(kind, name):
        raise ApiError(404, f"No cached {kind} named {name[:80]!r}", type="validation_error",
                       code="file_not_found", param="name")
    return json_response({"status": "success", "result": {"deleted": name}})


@bp.post("/cache/items/delete")
async def cache_items_delete() -> Response:
    body = body_object(checked_body(await read_json(), CacheItemsDelete))
    kind = _kind(body, default=None)
    raw = body.get("names")
    if not isinstance(raw, list) or not raw:
        raise validation("names: a non-empty list of file names is required", "names",
                         "missing_file_names")
    names = list(dict.fromkeys(_name(kind, item, f"names[{i}]") for i, item in enumerate(raw)))
    media = services().media
    deleted = 0
    for name in names:
        deleted += await media.delete(kind, name)
    return json_response({"status": "success",
                          "result": {"deleted": deleted, "missing": len(names) - deleted}})
