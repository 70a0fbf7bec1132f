"""The files an account holds on grok.com (its uploads and generated media): list every page
of `GET /rest/assets`, delete one with `DELETE /rest/assets-metadata/{assetId}` (docs/upstream.md,
"Endpoints used"). Both go through the REST transport's short calls with the headers of every
REST call and the file manager's Referer. A refusal raises `UpstreamHTTPError` with its
invalid-credential marker, as the other short calls do (`ratelimits.raise_for_status`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import GROK_ORIGIN, UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.ratelimits import ShortCallTransport, json_body, raise_for_status
from addons.upstream.wire import UpstreamRequest

__all__ = ["Asset", "delete_asset", "list_assets", "parse_asset"]

ASSETS_PATH = "/rest/assets"
DELETE_PATH = "/rest/assets-metadata/"
FILES_REFERER = GROK_ORIGIN + "/files"
PAGE_SIZE = 50
#: A listing stops after this many pages even if grok.com keeps handing out page tokens.
MAX_PAGES = 200
TIMEOUT_SEC = 30.0


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    name: str
    file_path: str
    content_type: str
    size: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "file_path": self.file_path,
                "content_type": self.content_type, "size": self.size,
                "created_at": self.created_at}


def _first(item: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = item.get(name)
        if value not in (None, ""):
            return value
    return None


def _size(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def parse_asset(item: Any) -> Asset | None:
    """One listed item; the field names vary between answers (`assetId` or `id`, `fileName`
    or `name` …). An item without an id is skipped: it could not be deleted anyway."""
    if not isinstance(item, dict):
        return None
    asset_id = _first(item, "assetId", "id")
    if not isinstance(asset_id, str) or not asset_id:
        return None
    return Asset(id=asset_id,
                 name=str(_first(item, "fileName", "name") or ""),
                 file_path=str(_first(item, "filePath", "file_path") or ""),
                 content_type=str(_first(item, "contentType", "content_type", "mimeType") or ""),
                 size=_size(_first(item, "fileSize", "size")),
                 created_at=str(_first(item, "createdAt", "created_at", "createTime") or ""))


def _headers(cfg: UpstreamConfig, token: str) -> dict[str, str]:
    # no body on either call: no Content-Type, as the browser sends them
    return build_headers(cfg, token, origin=cfg.origin, referer=FILES_REFERER, content_type=None)


async def list_assets(transport: ShortCallTransport, cfg: UpstreamConfig, token: str, *,
                      page_size: int = PAGE_SIZE, timeout: float = TIMEOUT_SEC) -> list[Asset]:
    """Every asset of the account, newest use first, following `nextPageToken`."""
    assets: list[Asset] = []
    seen: set[str] = set()
    page_token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": page_size, "orderBy": "ORDER_BY_LAST_USE_TIME",
                 "source": "SOURCE_ANY", "isLatest": "true"}
        if page_token:
            query["pageToken"] = page_token
        req = UpstreamRequest("GET", f"{cfg.base_url}{ASSETS_PATH}?{urlencode(query)}",
                              _headers(cfg, token))
        status, _, body = await transport.request(req, timeout)
        raise_for_status(status, body)
        data = json_body(status, body)
        items = data.get("assets")
        if items is None:
            items = data.get("items")
        if items is not None and not isinstance(items, list):
            raise UpstreamHTTPError(502, "asset list answer without a list of assets")
        for item in items or []:
            asset = parse_asset(item)
            if asset is not None and asset.id not in seen:
                seen.add(asset.id)
                assets.append(asset)
        next_token = data.get("nextPageToken")
        # a repeated token would loop forever: grok.com has nothing new to give
        if not isinstance(next_token, str) or not next_token or next_token == page_token:
            break
        page_token = next_token
    return assets


async def delete_asset(transport: ShortCallTransport, cfg: UpstreamConfig, token: str,
                       asset_id: str, *, timeout: float = TIMEOUT_SEC) -> None:
    """Delete one asset; a 404 (unknown, or deleted meanwhile) raises like any refusal."""
    url = f"{cfg.base_url}{DELETE_PATH}{quote(asset_id, safe='')}"
    status, _, body = await transport.request(UpstreamRequest("DELETE", url, _headers(cfg, token)),
                                              timeout)
    raise_for_status(status, body)
