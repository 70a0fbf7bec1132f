"""Where this process keeps its state, said in one line at startup, and whether that place is
lost on the next deploy.

Users lose their accounts when SQLite sits on a disk that does not survive a redeploy: a
Render instance without a persistent disk, a container without a volume. Those are told
apart by the mount that holds the data directory (`/proc/self/mountinfo`, Linux only): the
container's root (`overlay`, `aufs`) or memory (`tmpfs`) is ephemeral; so is `/` itself on
Render, whose persistent disks are separate mounts.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from state.boot import BootConfig
from state.db import redact_url

__all__ = ["ephemeral_reason", "mount_of", "where_state_lives"]

MOUNTINFO = Path("/proc/self/mountinfo")
EPHEMERAL_FS = frozenset({"overlay", "aufs", "tmpfs", "ramfs"})


def where_state_lives(boot: BootConfig) -> str:
    data_dir = boot.data_dir.resolve()
    if boot.database_url:
        place = f"database {redact_url(boot.database_url)}"
    else:
        place = f"SQLite {boot.account_local_path.resolve()}"
    shared = f", Redis {redact_url(boot.redis_url)}" if boot.redis_url else ""
    return f"state: accounts and keys in {place}{shared}; config and media in {data_dir}"


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mount_of(path: Path, mountinfo: str) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the mount holding `path`: the longest mount point
    that is a prefix of it."""
    best: tuple[str, str] | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        fstype = line.split(" - ", 1)[1].split()[0]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)
    return best


def ephemeral_reason(boot: BootConfig, *, mountinfo: str | None = None,
                     environ: Mapping[str, str] | None = None) -> str | None:
    """Why the accounts would be lost on the next deploy, or None when they would not be
    (a server database, a volume, or nothing known to say otherwise)."""
    if boot.database_url:
        return None
    environ = os.environ if environ is None else environ
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text()
        except OSError:
            return None
    path = boot.account_local_path.resolve()
    mount = mount_of(path, mountinfo)
    if mount is None:
        return None
    point, fstype = mount
    if fstype in EPHEMERAL_FS:
        return (f"SQLite at {path} is on a {fstype} filesystem ({point}), which a redeploy or "
                f"restart of the container wipes: mount a volume at DATA_DIR or set "
                f"DATABASE_URL")
    if environ.get("RENDER") and point == "/":
        return (f"SQLite at {path} is on this Render instance's own disk, which every deploy "
                f"replaces: add a persistent disk mounted at DATA_DIR or set DATABASE_URL")
    return None
