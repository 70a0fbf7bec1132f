"""The account's files as grok.com's file manager sees them: `GET /rest/assets` lists them a
page at a time (`pageSize`, `pageToken` → `nextPageToken`), `DELETE
/rest/assets-metadata/{assetId}` deletes one (its owner only; the CDN stops serving it).
Both check cookies and `x-statsig-id` like the other REST paths (`common.admit`); a fault
injected on `ASSETS_PATH` strikes listings, one on `ASSET_DELETE_PREFIX` any delete."""
from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ops.simulator.common import admit, json_response, sim_state, to_response
from ops.simulator.errors import bad_request, json_reply
from ops.simulator.state import ASSET_DELETE_PREFIX, ASSETS_PATH, MediaAsset, UploadedFile

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
NOT_FOUND = json_reply(404, {"error": {"code": 5, "message": "Asset not found", "details": []}})
NOT_OWNER = json_reply(403, {"error": {"code": 7, "message": "Permission denied", "details": []}})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def asset_view(item: UploadedFile | MediaAsset) -> dict[str, Any]:
    """One listed asset, under the field names grok.com's file manager reads."""
    if isinstance(item, UploadedFile):
        asset_id, name, path = item.file_id, item.file_name, f"users/{item.user_id}/{item.file_id}/content"
    else:
        asset_id, name, path = item.asset_id, item.path.rsplit("/", 1)[-1], item.path
    return {"assetId": asset_id, "fileName": name, "filePath": path, "contentType": item.mime,
            "fileSize": len(item.data), "createdAt": _iso(item.created_at)}


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    """The offset a page token carries; None for a token this simulator did not issue."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, _, value = text.partition(":")
    return int(value) if name == "offset" and value.isdigit() else None


async def list_handler(request: web.Request) -> web.StreamResponse:
    sim, refused = await admit(request, ASSETS_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    raw_size = request.query.get("pageSize", str(DEFAULT_PAGE_SIZE))
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        return to_response(bad_request(f"pageSize must be 1-{MAX_PAGE_SIZE}"))
    size = int(raw_size)
    start = 0
    if request.query.get("pageToken"):
        found = _offset(request.query["pageToken"])
        if found is None:
            return to_response(bad_request("invalid pageToken"))
        start = found
    assets = sim_state(request).assets_of(sim)
    page = assets[start:start + size]
    answer: dict[str, Any] = {"assets": [asset_view(a) for a in page]}
    if start + size < len(assets):
        answer["nextPageToken"] = _page_token(start + size)
    return json_response(answer)


async def delete_handler(request: web.Request) -> web.StreamResponse:
    sim, refused = await admit(request, ASSET_DELETE_PREFIX)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    deleted = sim_state(request).delete_asset(sim, request.match_info["asset_id"])
    if deleted is None:
        return to_response(NOT_FOUND)
    if not deleted:
        return to_response(NOT_OWNER)
    return json_response({})


def add_asset_list_routes(app: web.Application) -> None:
    app.router.add_get(ASSETS_PATH, list_handler)
    app.router.add_delete(ASSET_DELETE_PREFIX + "{asset_id}", delete_handler)
