"""Runs the gateway under Hypercorn with the settings deploys need."""
from __future__ import annotations

import logging

from hypercorn.config import Config
from hypercorn.run import run
from quart import Quart

from ops.logs import configure_logging
from state.boot import BootConfig

APP_PATH = "ops.serve:worker_app()"


def worker_app() -> Quart:
    """The app as each serving process loads it: logging first, as a spawned worker has none."""
    boot = BootConfig.from_env()
    configure_logging(boot.log_level)
    from quart_app.app import create_app

    return create_app(boot)


def hypercorn_config(boot: BootConfig) -> Config:
    config = Config()
    config.application_path = APP_PATH
    config.bind = [f"{boot.host}:{boot.port}"]
    # workers=0 serves in this process; each extra worker is a separate process with its
    # own in-memory pool
    config.workers = 0 if boot.workers <= 1 else boot.workers
    config.graceful_timeout = 25.0  # Hypercorn's 3 s would cut streams during a deploy
    config.backlog = 4096
    config.keep_alive_timeout = 75.0
    config.keep_alive_max_requests = 100_000
    # The app writes its own access log (`grok2api.access`, with the request id and key
    # label); Hypercorn's would repeat every request.
    config.accesslog = None
    # A logger rather than "-": Hypercorn then adds no handler of its own and its lines go
    # through ours (format, request id) instead of being printed twice. It pickles by name,
    # so the spawned workers get the same.
    config.errorlog = logging.getLogger("hypercorn.error")
    try:
        import uvloop  # noqa: F401

        config.worker_class = "uvloop"
    except ImportError:
        config.worker_class = "asyncio"
    return config


def serve(boot: BootConfig | None = None) -> int:
    boot = boot or BootConfig.from_env()
    configure_logging(boot.log_level)
    return run(hypercorn_config(boot)) or 0
