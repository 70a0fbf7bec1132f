"""Runs the gateway under Hypercorn with the settings deploys need (traps 7 and 8)."""
from __future__ import annotations

import logging

from hypercorn.config import Config
from hypercorn.run import run

from state.boot import BootConfig

APP_PATH = "quart_app.app:create_app()"


def hypercorn_config(boot: BootConfig) -> Config:
    config = Config()
    config.application_path = APP_PATH
    config.bind = [f"{boot.host}:{boot.port}"]
    # workers=0 serves in this process; each extra worker is a separate process with its
    # own in-memory pool (trap 8)
    config.workers = 0 if boot.workers <= 1 else boot.workers
    config.graceful_timeout = 25.0  # trap 7: let streams finish during a deploy
    config.backlog = 4096
    config.keep_alive_timeout = 75.0
    config.keep_alive_max_requests = 100_000
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = boot.log_level
    try:
        import uvloop  # noqa: F401

        config.worker_class = "uvloop"
    except ImportError:
        config.worker_class = "asyncio"
    return config


def serve(boot: BootConfig | None = None) -> int:
    boot = boot or BootConfig.from_env()
    logging.basicConfig(level=boot.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(hypercorn_config(boot)) or 0
