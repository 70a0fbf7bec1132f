"""`grok2api serve`'s Hypercorn config: the connection limits come from the settings, and the
connection cap never promises more sockets than the open-file limit allows."""
from __future__ import annotations

import logging
from pathlib import Path

from ops.serve import hypercorn_config
from quart_app.connections import ConnectionLimits
from state.boot import BootConfig
from state.settings import Settings


def config_for(tmp_path: Path, fd_limit: int | None, **env: str):
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path), **env}, dotenv=False)
    return hypercorn_config(boot, Settings.from_boot(boot).options, fd_limit)


def test_the_settings_reach_hypercorn(tmp_path: Path) -> None:
    config = config_for(tmp_path, None, GROK_SERVER_KEEP_ALIVE_SEC="30",
                        GROK_SERVER_HEAD_TIMEOUT_SEC="3", GROK_SERVER_MAX_CONNECTIONS="100")
    assert ConnectionLimits.of(config) == ConnectionLimits(3.0, 30.0, 100)
    assert config.keep_alive_timeout == 30.0


def test_the_cap_is_lowered_to_what_the_open_file_limit_holds(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    # each client connection may hold an upstream one; 64 descriptors stay for the process,
    # 64 for refused connections being answered
    assert ConnectionLimits.of(config_for(tmp_path, 1024)).max_connections == (1024 - 128) // 2
    assert "server.max_connections lowered from 4096 to 448" in caplog.text
    assert ConnectionLimits.of(config_for(tmp_path, 1 << 20)).max_connections == 4096
