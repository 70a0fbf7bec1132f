"""The request audit log for operators: `GET /admin/api/requests` (filtered, newest first,
paged by the server) and `GET /admin/api/requests/export?format=csv|jsonl` (the same
filters, streamed a batch of rows at a time, never built whole in memory). A CSV cell that
a spreadsheet would take for a formula is exported as text."""
from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from quart import Response, request

from addons.errors import validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, services
from quart_app.admin.schemas import checked_query
from quart_app.admin.usage import save_pending
from quart_app.admin.usage_schemas import DEFAULT_PAGE, ExportQuery, RequestsQuery
from state.usage_query import AUDIT_FIELDS, RequestFilter, audit_batches, audit_page

__all__ = ["bp"]

bp = admin_blueprint("requests")

#: audit rows read per query of an export
EXPORT_BATCH = 500


def _filter(query: Any) -> RequestFilter:
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation("from: must not be later than to", "from")
    return RequestFilter(key=query.key, model=query.model, status=query.status,
                         account=query.account, start=query.from_, end=query.to,
                         stream=query.stream)


@bp.get("/requests")
async def list_requests() -> Response:
    query = checked_query(request.args, RequestsQuery)
    flt = _filter(query)
    await save_pending()
    page = await services().accounts.thread.run(
        audit_page, flt, query.page or 1, query.page_size or DEFAULT_PAGE)
    return json_response(page)


#: a spreadsheet reads a cell starting with one of these as a formula (a client chooses the
#: model name and the request id it sends, and the prompt when content is stored)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, text that a spreadsheet would run as a formula
    behind an apostrophe (shown as text; OWASP's advice against CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_lines(rows: list[dict[str, Any]], header: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if header:
        writer.writerow(AUDIT_FIELDS)
    for row in rows:
        writer.writerow([csv_cell(row[f]) for f in AUDIT_FIELDS])
    return buf.getvalue().encode()


def _jsonl_lines(rows: list[dict[str, Any]], header: bool) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


@bp.get("/requests/export")
async def export_requests() -> Response:
    query = checked_query(request.args, ExportQuery)
    flt = _filter(query)
    fmt = query.format or "csv"
    encode = _csv_lines if fmt == "csv" else _jsonl_lines
    await save_pending()
    thread = services().accounts.thread

    async def body() -> AsyncIterator[bytes]:
        after: int | None = None
        first = True
        while True:
            rows = await thread.run(audit_batches, flt, after, EXPORT_BATCH)
            if rows or first:
                yield encode(rows, first)
            first = False
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1]["id"]

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    headers = {"Content-Disposition": f'attachment; filename="requests-{stamp}.{fmt}"'}
    return Response(body(), content_type=media, headers=headers)
