"""Logging for `grok2api serve`: one handler on the root logger, in every process that serves.

Hypercorn's workers are spawned processes that inherit none of the parent's logging setup, so
each calls `configure_logging` before it builds the app (`ops.serve.worker_app`); the call is
idempotent, so the single-process server, which runs the same entry point, sets up once.
Hypercorn's own loggers propagate here (see `ops.serve.hypercorn_config`).

Every handler, ours and any a library installed, masks secrets (`state.redact`): whatever the
level, no account token, cookie, client key or admin secret reaches a log line. The app factory
tells the filter which settings hold the live keys (`state.redact.watch`).
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

from quart_app.request_log import RequestIdFilter
from state.redact import RedactFilter

__all__ = ["FORMAT", "LIBRARY_LOGGERS", "configure_logging", "redact_all_handlers"]

#: Loggers libraries write to directly. Each gets the secret filter on the logger itself, so
#: a handler such a library attaches later (Hypercorn does for `errorlog="-"`, Quart to its
#: app logger, named after the app, when no handler is set up) still receives masked records.
LIBRARY_LOGGERS = ("peewee", "hypercorn.error", "hypercorn.access", "curl_cffi", "asyncio",
                   "aiohttp.client", "aiohttp.server", "aiohttp.access", "aiohttp.internal",
                   "aiohttp.web", "aiohttp.websocket", "redis", "grok2api")

#: Every line says which process wrote it and for which request ("-" outside one).
FORMAT = "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s"


class _GatewayHandler(logging.StreamHandler):
    """Marks the handler this module installed, so a second call does not add another."""


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """One handler on the root logger writing to `stream` (stderr), secrets masked."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, _GatewayHandler) for h in root.handlers):
        handler = _GatewayHandler(sys.stderr if stream is None else stream)
        handler.addFilter(RedactFilter())
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    redact_all_handlers()


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
