"""Typed query strings of the usage and request-audit admin routes (`usage.py`,
`requests.py`); `/openapi.json` describes those routes with them."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "ExportQuery", "RequestsQuery", "UsageQuery"]

MAX_PAGE = 500
DEFAULT_PAGE = 50
#: the latest unix second a query names (year 9999)
_MAX_TS = 253402300799

Timestamp = Annotated[int, Meta(ge=0, le=_MAX_TS, description="unix seconds")]
Name = Annotated[str, Meta(max_length=191)]


class UsageQuery(Struct):
    from_: Timestamp | None = msgspec.field(default=None, name="from")
    to: Timestamp | None = None
    group_by: Literal["key", "model", "endpoint", "tier"] | None = None
    key: Annotated[Name, Meta(description="a key's id or name")] | None = None


class _RequestFilter(Struct):
    key: Annotated[Name, Meta(description="a key's id or name")] | None = None
    model: Name | None = None
    status: Literal["1xx", "2xx", "3xx", "4xx", "5xx"] | None = None
    account: Annotated[str, Meta(max_length=32, description="the masked account as listed")] \
        | None = None
    from_: Timestamp | None = msgspec.field(default=None, name="from")
    to: Timestamp | None = None
    stream: bool | None = None


class RequestsQuery(_RequestFilter):
    page: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE)] | None = None


class ExportQuery(_RequestFilter):
    format: Literal["csv", "jsonl"] | None = None
