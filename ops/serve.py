"""Runs the gateway under Hypercorn with the settings deploys need."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from pathlib import Path

from hypercorn.config import Config
from hypercorn.run import run
from quart import Quart

from ops.logs import configure_file_logging, configure_logging
from quart_app.connections import MAX_LINGERING, ConnectionLimits, configure
from state.boot import BootConfig
from state.config_values import SettingsError
from state.options import Loader, Options
from state.settings import Settings
from state.storage_place import ephemeral_reason, where_state_lives

APP_PATH = "ops.serve:worker_app()"
#: Descriptors kept free of client connections: database, log files, the listening socket,
#: Redis, the simulator's or a proxy's control connections.
RESERVED_FDS = 64

log = logging.getLogger(__name__)


def load(loader: Loader) -> None:
    """The settings the server's connection handling reads (all at startup)."""
    loader.add_option("server.keep_alive_sec", float, 75.0,
                      "Seconds an idle keep-alive connection stays open for its next request "
                      "(above the idle timeout of a load balancer in front, which then closes "
                      "first). Read at startup.")
    loader.add_option("server.head_timeout_sec", float, 5.0,
                      "Seconds a new connection has to send its first complete request head; "
                      "then it is closed (a connection that sends nothing holds a file "
                      "descriptor). At least 1 s in effect. Read at startup.")
    loader.add_option("server.max_connections", int, 4096,
                      "Client connections one serving process holds open; a connection beyond "
                      "it is answered 503 with Retry-After and closed. Each of SERVER_WORKERS "
                      "counts its own, so an instance holds up to SERVER_WORKERS times this. "
                      "Lowered at startup to what the open-file limit leaves room for. Read "
                      "at startup.")


def worker_app() -> Quart:
    """The app as each serving process loads it: logging first, as a spawned worker has none."""
    boot = BootConfig.from_env()
    configure_logging(boot.log_level, env=boot.environ)
    from quart_app.app import create_app

    if multiprocessing.parent_process() is not None:
        # A worker stops when the parent sets Hypercorn's shared shutdown event (on its own
        # SIGTERM). Once the first worker has exited, Hypercorn's parent SIGTERMs the others,
        # which would kill a worker still saving its usage, audit rows and account counters:
        # a worker ignores SIGTERM and finishes its graceful stop instead.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    app = create_app(boot)
    settings = app.extensions["grok2api"].settings
    configure_file_logging(boot.data_dir, settings.options.logging.max_files, env=boot.environ)
    return app


def prepare_multiprocess_metrics(boot: BootConfig, environ: dict | None = None) -> Path | None:
    """With several workers, `prometheus_client` keeps each worker's values in files that
    the scrape merges: point `PROMETHEUS_MULTIPROC_DIR` at `${DATA_DIR}/prometheus` (or the
    operator's own) before the workers start, and empty it of the last run's files, whose
    counters would otherwise be added to this run's. One process: nothing to share."""
    environ = os.environ if environ is None else environ
    if boot.workers <= 1:
        return None
    directory = Path(environ.get("PROMETHEUS_MULTIPROC_DIR") or boot.data_dir / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def hypercorn_config(boot: BootConfig, options: Options, fd_limit: int | None = None) -> Config:
    """Hypercorn's config for `boot` and the settings; `fd_limit` (the open-file limit) may
    lower `server.max_connections`."""
    config = Config()
    config.application_path = APP_PATH
    config.bind = [f"{boot.host}:{boot.port}"]
    # workers=0 serves in this process; each extra worker is a separate process with its
    # own in-memory pool
    config.workers = 0 if boot.workers <= 1 else boot.workers
    config.graceful_timeout = 25.0  # Hypercorn's 3 s would cut streams during a deploy
    config.backlog = 4096
    config.keep_alive_max_requests = 100_000
    server = options.server
    configure(config, ConnectionLimits(
        head_timeout=server.head_timeout_sec, keep_alive=server.keep_alive_sec,
        max_connections=connection_cap(server.max_connections, fd_limit)))
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


def raise_open_file_limit() -> int | None:
    """This process's open-file limit after raising it as far as allowed (spawned workers
    inherit it); None where there is no such limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. macOS refuses an unlimited soft limit
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(wanted: int, fd_limit: int | None) -> int:
    """`wanted`, or less when the open-file limit cannot hold that many client connections
    plus one upstream connection each, the refused connections being answered, and the
    descriptors the process needs besides."""
    if fd_limit is None:
        return wanted
    room = max((fd_limit - RESERVED_FDS - MAX_LINGERING) // 2, 1)
    if wanted > room:
        log.warning("server.max_connections lowered from %d to %d: the open-file limit is %d",
                    wanted, room, fd_limit)
        return room
    return wanted


def serve(boot: BootConfig | None = None) -> int:
    boot = boot or BootConfig.from_env()
    configure_logging(boot.log_level, env=boot.environ)
    prepare_multiprocess_metrics(boot)
    try:
        settings = Settings.from_boot(boot)
    except SettingsError as exc:
        raise SystemExit(f"grok2api: {exc}") from None
    log.info(where_state_lives(boot))
    reason = ephemeral_reason(boot)
    if reason:
        log.warning("Accounts will be lost on the next deploy: %s", reason)
    return run(hypercorn_config(boot, settings.options, raise_open_file_limit())) or 0
