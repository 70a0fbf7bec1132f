"""The log files for operators (`GET /admin/api/logs/files`, `/admin/api/logs/tail`): names,
sizes and the last lines of one file (optionally only those holding a text). Only a name of the logs directory's own shape
(`<YYYY-MM-DD>.log`) is ever opened, so no query can reach another path; the tail reads at
most the last MiB and returns at most 5,000 lines."""
from __future__ import annotations

import asyncio
from typing import Annotated

from msgspec import Meta, Struct
from quart import Response, request

from addons.errors import ApiError, validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, services
from quart_app.admin.schemas import checked_query
from state.log_files import LOG_NAME, list_files, log_dir, tail_lines

__all__ = ["LogTailQuery", "bp"]

bp = admin_blueprint("logs")

MAX_LINES = 5000
DEFAULT_LINES = 500


class LogTailQuery(Struct):
    file: Annotated[str, Meta(max_length=64)] | None = None
    lines: int | None = None
    q: Annotated[str, Meta(max_length=200, description="only lines holding this text "
                                                       "(case-insensitive)")] | None = None


@bp.get("/logs/files")
async def log_files() -> Response:
    directory = log_dir(services().boot.data_dir)
    return json_response({"files": await asyncio.to_thread(list_files, directory)})


@bp.get("/logs/tail")
async def log_tail() -> Response:
    query = checked_query(request.args, LogTailQuery)
    lines = min(MAX_LINES, max(1, DEFAULT_LINES if query.lines is None else query.lines))
    directory = log_dir(services().boot.data_dir)
    name = query.file
    if name is None:
        files = await asyncio.to_thread(list_files, directory)
        if not files:
            raise ApiError(404, "There is no log file yet", type="validation_error",
                           code="file_not_found")
        name = files[0]["name"]
    elif not LOG_NAME.fullmatch(name):
        raise validation("file: a log file name (YYYY-MM-DD.log) from /admin/api/logs/files",
                         "file", "invalid_file_name")
    path = directory / name
    try:
        text = await asyncio.to_thread(tail_lines, path, lines, contains=query.q or None)
    except FileNotFoundError:
        raise ApiError(404, f"No log file {name}", type="validation_error",
                       code="file_not_found") from None
    return json_response({"file": name, "lines": text})
