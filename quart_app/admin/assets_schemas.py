"""Typed models of the bodies and query strings of the online-asset and local-cache admin
routes (`assets.py`, `cache.py`); `/openapi.json` describes those routes with them. What a type
cannot say (a token's shape, a file name's form) is checked by the routes."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from quart_app.dialects.schema import INT32_MAX

#: The most names one `cache/items/delete` takes.
MAX_NAMES = 10_000
#: The largest page of a cache listing.
MAX_CACHE_PAGE = 10_000
DEFAULT_CACHE_PAGE = 1000

Kind = Literal["image", "video"]
AssetId = Annotated[str, Meta(min_length=1, max_length=512, description="grok.com's asset id")]


class DeleteAssetItem(Struct):
    token: str
    asset_id: AssetId


class ClearAssetsToken(Struct):
    token: str


class CacheListQuery(Struct):
    type: Kind | None = None
    cache_type: Kind | None = None
    page: Annotated[int, Meta(ge=1, le=INT32_MAX)] | None = None
    page_size: Annotated[int, Meta(ge=1, le=MAX_CACHE_PAGE)] | None = None


class CacheClear(Struct):
    type: Kind | None = None
    cache_type: Kind | None = None


class CacheItemDelete(Struct):
    type: Kind | None = None
    cache_type: Kind | None = None
    name: Annotated[str, Meta(description="a file name from the listing, e.g. `<id>.jpg`")] \
        | None = None


class CacheItemsDelete(Struct):
    type: Kind | None = None
    cache_type: Kind | None = None
    names: Annotated[list[Any], Meta(max_length=MAX_NAMES,
                                     extra_json_schema={"items": {"type": "string"}})] \
        | None = None
