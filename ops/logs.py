"""Logging for `grok2api serve`: one handler on the root logger, in every process that serves.

Hypercorn's workers are spawned processes that inherit none of the parent's logging setup, so
each calls `configure_logging` before it builds the app (`ops.serve.worker_app`); the call is
idempotent, so the single-process server, which runs the same entry point, sets up once.
Hypercorn's own loggers propagate here (see `ops.serve.hypercorn_config`).

Every handler, ours and any a library installed, masks secrets (`state.redact`): whatever the
level, no account token, cookie, client key or admin secret reaches a log line. The app factory
tells the filter which settings hold the live keys (`state.redact.watch`).

Besides stderr, each serving process appends to `${DATA_DIR}/logs/<date>.log`
(`state.log_files.DailyFileHandler`: a new file each day, at most `logging.max_files` kept;
`LOG_FILE_ENABLED=false` turns files off). Workers append to the same dated file: each line is
one `write()` in append mode, so lines do not mix, and no file is ever renamed, so no worker
writes into a file another one moved away. `LOG_FORMAT=json` writes one JSON object per line
(`time`, `level`, `logger`, `message`, `request_id`, `process`, `exc_info`) to both.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Mapping, TextIO

from state.log_files import DailyFileHandler, JsonFormatter, log_dir
from quart_app.request_log import RequestIdFilter
from state.options import Loader
from state.redact import RedactFilter

__all__ = ["FORMAT", "LIBRARY_LOGGERS", "configure_file_logging", "configure_logging",
           "load", "redact_all_handlers"]

#: Loggers libraries write to directly. Each gets the secret filter on the logger itself, so
#: a handler such a library attaches later (Hypercorn does for `errorlog="-"`, Quart to its
#: app logger, named after the app, when no handler is set up) still receives masked records.
LIBRARY_LOGGERS = ("peewee", "hypercorn.error", "hypercorn.access", "curl_cffi", "asyncio",
                   "aiohttp.client", "aiohttp.server", "aiohttp.access", "aiohttp.internal",
                   "aiohttp.web", "aiohttp.websocket", "redis", "grok2api")

#: Every line says which process wrote it and for which request ("-" outside one).
FORMAT = "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s"


def load(loader: Loader) -> None:
    loader.add_option("logging.max_files", int, 7,
                      "Daily log files kept under ${DATA_DIR}/logs (the oldest are deleted "
                      "when a new day starts); at least 1. Read at startup.",
                      check=_at_least_one)


def _at_least_one(value: int) -> None:
    if value < 1:
        raise ValueError("must be at least 1")


class _GatewayHandler(logging.StreamHandler):
    """Marks the handler this module installed, so a second call does not add another."""


def _formatter(env: Mapping[str, str]) -> logging.Formatter:
    """`LOG_FORMAT=json`: one JSON object per line; else the plain line format."""
    if (env.get("LOG_FORMAT") or "").strip().lower() == "json":
        return JsonFormatter()
    return logging.Formatter(FORMAT)


def _prepare(handler: logging.Handler, env: Mapping[str, str]) -> logging.Handler:
    handler.addFilter(RedactFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(_formatter(env))
    return handler


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None,
                      env: Mapping[str, str] | None = None) -> None:
    """One handler on the root logger writing to `stream` (stderr), secrets masked."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, _GatewayHandler) for h in root.handlers):
        handler = _GatewayHandler(sys.stderr if stream is None else stream)
        root.addHandler(_prepare(handler, os.environ if env is None else env))
    redact_all_handlers()


def configure_file_logging(data_dir: Path, max_files: int,
                           env: Mapping[str, str] | None = None) -> DailyFileHandler | None:
    """The daily files under `${DATA_DIR}/logs` on the root logger (once per process), unless
    `LOG_FILE_ENABLED` is false (a read-only file system). Returns the handler."""
    env = os.environ if env is None else env
    if (env.get("LOG_FILE_ENABLED") or "true").strip().lower() in ("0", "false", "no", "off"):
        return None
    root = logging.getLogger()
    for existing in root.handlers:
        if isinstance(existing, DailyFileHandler):
            existing.max_files = max_files
            return existing
    handler = DailyFileHandler(log_dir(data_dir), max_files=max_files)
    root.addHandler(_prepare(handler, env))
    return handler


def redact_all_handlers() -> None:
    """Put the secret filter on every handler present (the root's, any logger's, and the
    last-resort handler Python uses while none is configured) and on the libraries' loggers."""
    loggers = [logging.getLogger(), *(obj for obj in logging.Logger.manager.loggerDict.values()
                                      if isinstance(obj, logging.Logger))]
    handlers = [h for lg in loggers for h in lg.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for target in [*handlers, *map(logging.getLogger, LIBRARY_LOGGERS)]:
        if not any(isinstance(f, RedactFilter) for f in target.filters):
            target.filters.insert(0, RedactFilter())  # before any filter that reads the message
