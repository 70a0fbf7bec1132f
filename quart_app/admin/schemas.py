"""Typed models of the admin API's bodies and query strings.

Each admin route checks its input against its model first (`checked_body`, `checked_query`):
a wrong type or an out-of-range number is a 400 naming the field before any route logic
runs. What a type cannot say (a token's shape, a pool alias, a tag's form) stays with
`quart_app.admin.inputs`, which cleans the values the route then reads. The same models
describe the admin routes in `/openapi.json`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta, Struct

from addons.errors import validation
from quart_app.admin.inputs import MAX_CONCURRENCY, MAX_PAGE_SIZE, MAX_TOKENS
from quart_app.dialects.schema import INT32_MAX, validation_error

T = TypeVar("T")

# Items of token and tag lists are judged one by one by `inputs` (a bad token item is named
# `tokens[i]`, and `add` keeps the good ones): the models check the lists themselves.
_STRINGS = {"items": {"type": "string"}}
TokenItems = Annotated[list[Any], Meta(max_length=MAX_TOKENS, extra_json_schema=_STRINGS,
                                       description="Tokens; an item that is not a usable "
                                                   "token is refused on its own.")]
Tokens = Annotated[list[Any], Meta(max_length=MAX_TOKENS, extra_json_schema=_STRINGS)]
Tags = Annotated[list[Any], Meta(extra_json_schema=_STRINGS)]
Pool = Annotated[str, Meta(description="basic, super or heavy (import aliases accepted)")]


class SetAppKey(Struct):
    app_key: Annotated[str, Meta(min_length=12, max_length=256, pattern=r"^[!-~]+$",
                                 description="the new admin secret: printable ASCII, no spaces")]


class AdminLogin(Struct):
    app_key: Annotated[str, Meta(min_length=1, max_length=256, description="the admin secret")]


class AddTokens(Struct):
    tokens: TokenItems
    pool: Annotated[str, Meta(description="a pool, or auto to detect the tier")] | None = "auto"
    tags: Tags | None = None


class EditToken(Struct):
    old_token: str
    token: str | None = None
    pool: Pool | None = None
    tags: Tags | None = None
    note: Annotated[str, Meta(max_length=2000)] | None = None


class TokenList(Struct):
    tokens: Tokens | None = None


class SetDisabled(Struct):
    token: str
    disabled: bool


class SetDisabledBatch(Struct):
    tokens: Tokens
    disabled: bool


class PoolEntry(Struct):
    token: Any = None
    tags: Tags | None = None


#: `POST /admin/api/tokens`: `{"<pool>": [token | {"token", "tags"}, …]}`
ReplacePools = dict[str, Annotated[list[Any], Meta(extra_json_schema={
    "items": {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/PoolEntry"}]}})]]


class ReplaceOnePool(Struct):
    pool: Pool
    tokens: Tokens
    tags: Tags | None = None


#: A token list as a bare array or as `{"tokens": [...]}`.
TokensBody = Tokens | TokenList


class TokenFilterQuery(Struct):
    """The account listing's filters and order, shared by the listing and its export."""

    pool: str | None = None
    status: str | None = None
    tag: str | None = None
    nsfw: str | None = None
    search: str | None = None
    q: str | None = None
    sort: Annotated[str, Meta(description="token, pool, status, created_at, updated_at, "
                                          "last_used_at, last_fail_at, last_sync_at, "
                                          "use_count, fail_count, success_rate, "
                                          "consecutive_failures, remaining, inflight")
                   ] | None = None
    order: Annotated[str, Meta(description="asc (default) or desc")] | None = None


class ListTokensQuery(TokenFilterQuery):
    page: Annotated[int, Meta(ge=1, le=INT32_MAX)] | None = None
    page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE)] | None = None


class ExportTokensQuery(TokenFilterQuery):
    format: Annotated[str, Meta(description="json (by pool, with tags; the default) or txt "
                                            "(one token per line)")] | None = None


class ImportTokens(Struct):
    """A TXT (one token per line) or JSON (by pool, or a list) import file's text."""

    content: Annotated[str, Meta(max_length=64 * 1024 * 1024)]
    pool: Annotated[str, Meta(description="the pool of tokens the file does not put in one; "
                                          "auto detects the tier")] | None = "auto"
    tags: Tags | None = None
    dry_run: Annotated[bool, Meta(description="only say what would be added, skipped and "
                                              "rejected")] = False


class PurgeQuery(Struct):
    dry_run: Annotated[str, Meta(description="true: only count what would be deleted")
                       ] | None = None


class BatchQuery(Struct):
    concurrency: Annotated[int, Meta(ge=1, le=MAX_CONCURRENCY)] | None = None


def checked_body(body: Any, model: Any) -> Any:
    """`body` unchanged, once it fits `model`; a 400 naming the field otherwise."""
    if body is None:
        return body
    try:
        msgspec.convert(body, model)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except RecursionError:
        raise validation("Request body is nested too deeply") from None
    return body


def checked_query(args: Mapping[str, str], model: type[T]) -> T:
    """The query string as `model` (numbers parsed from their text); a 400 naming the
    parameter otherwise. Empty values count as absent."""
    present = {k: v.strip() for k, v in args.items() if v.strip()}
    try:
        return msgspec.convert(present, model, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
