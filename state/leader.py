"""Leader election between the processes that share one DATA_DIR: a non-blocking advisory
file lock (`flock`), held for the life of the process.

`flock` locks belong to the open file description, so two holders in one process exclude each
other just as two processes do, and the kernel drops the lock when its holder dies: a
follower that retries takes over. Where `fcntl` does not exist (Windows) every process leads.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["LeaderLock"]


class LeaderLock:
    """`path` None (or no `fcntl`): always the leader."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else Path(path)
        self._fd: int | None = None
        self._free = self.path is None or fcntl is None

    @property
    def held(self) -> bool:
        return self._free or self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks. True when this object holds it."""
        if self.held:
            return True
        assert self.path is not None and fcntl is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:  # the holder's pid, for an operator wondering who leads
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self._fd = fd
        return True

    def holder_pid(self) -> int | None:
        """The pid the current holder wrote into the file, if any (for log lines)."""
        if self.path is None:
            return None
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
