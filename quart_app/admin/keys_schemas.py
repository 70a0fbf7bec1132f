"""Typed models of the bodies of the client-key admin routes (`keys.py`); `/openapi.json`
describes those routes with them. They check types; what a type cannot say (a known model, a
pool name, a tag's form, -1 as unlimited) is judged by `state.keys_input`."""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

#: A limit: a count, or -1 / null / "" for unlimited.
Limit = Annotated[int | Literal[""] | None, Meta(description="-1, null or empty = unlimited")]
KeyRef = Annotated[str, Meta(min_length=1, max_length=256,
                             description="the key's id (key_…) or its full value")]
#: The most keys one batch creates or changes.
MAX_BATCH = 1000
#: The most keys one page of the listing shows.
MAX_PAGE_SIZE = 500


class KeyLimits(Struct):
    chat_per_day: Limit = None
    heavy_per_day: Limit = None
    image_per_day: Limit = None
    video_per_day: Limit = None
    tokens_per_day: Limit = None


class KeyScope(Struct):
    pools: Annotated[list[str], Meta(max_length=3)] | None = None
    tags: Annotated[list[str], Meta(max_length=100)] | None = None


class KeyPolicyFields(Struct):
    name: Annotated[str, Meta(max_length=191)] | None = None
    is_active: bool | None = None
    limits: KeyLimits | None = None
    chat_limit: Limit = None
    heavy_limit: Limit = None
    image_limit: Limit = None
    video_limit: Limit = None
    models: Annotated[list[str], Meta(max_length=500)] | None = None
    rpm: Limit = None
    max_concurrency: Limit = None
    expires_at: Annotated[int, Meta(ge=0, le=2**40, description="unix seconds")] | None = None
    scope: KeyScope | None = None
    nsfw: bool | None = None


class CreateKey(KeyPolicyFields):
    key: Annotated[str, Meta(max_length=256, description="the key's value; generated when "
                                                         "absent")] | None = None


class UpdateKey(KeyPolicyFields):
    key: KeyRef | None = None
    id: KeyRef | None = None


class DeleteKey(Struct):
    key: KeyRef | None = None
    id: KeyRef | None = None


class BatchCreateKeys(KeyPolicyFields):
    count: Annotated[int, Meta(ge=1, le=MAX_BATCH)] = 1
    name_prefix: Annotated[str, Meta(max_length=160)] | None = None


class BatchKeyStatus(Struct):
    keys: Annotated[list[str], Meta(min_length=1, max_length=MAX_BATCH)]
    is_active: bool



class ListKeysQuery(Struct):
    """Filters, order and page of `GET /admin/api/keys`; without `page` every match."""

    q: Annotated[str, Meta(max_length=256, description="part of the name, id or shown "
                                                      "key, any case")] | None = None
    status: Literal["active", "disabled", "expired", "exhausted"] | None = None
    sort: Literal["name", "created_at", "last_used_at", "used_today", "expires_at"] | None = None
    order: Literal["asc", "desc"] | None = None
    page: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE)] | None = None
