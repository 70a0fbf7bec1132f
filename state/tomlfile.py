"""Writing the user TOML: setting a dotted key in a tomlkit document (comments and order
kept) and replacing the file atomically (temp file in the same folder, fsync, rename)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table

from state.config_values import SettingsError

__all__ = ["assign", "atomic_write"]


def assign(doc: Any, key: str, value: Any) -> None:
    parts = key.split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        if part not in node:
            node.add(part, tomlkit.table())
        child = node[part]
        if not isinstance(child, (Table, dict)) and not hasattr(child, "add"):
            raise SettingsError(f"{key}: '{'.'.join(parts[:i + 1])}' is not a table in the config file")
        node = child
    node[parts[-1]] = value


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600  # it may hold the admin password and API keys
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
