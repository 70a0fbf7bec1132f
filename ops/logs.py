"""Logging for `grok2api serve`: one handler on the root logger, in every process that serves.

Hypercorn's workers are spawned processes that inherit none of the parent's logging setup, so
each calls `configure_logging` before it builds the app (`ops.serve.worker_app`); the call is
idempotent, so the single-process server, which runs the same entry point, sets up once.
Hypercorn's own loggers propagate here (see `ops.serve.hypercorn_config`).
"""
from __future__ import annotations

import logging
import sys

from quart_app.request_log import RequestIdFilter

#: Every line says which process wrote it and for which request ("-" outside one).
FORMAT = "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s"


class _GatewayHandler(logging.StreamHandler):
    """Marks the handler this module installed, so a second call does not add another."""


def configure_logging(level: str | int = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if any(isinstance(h, _GatewayHandler) for h in root.handlers):
        return
    handler = _GatewayHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
