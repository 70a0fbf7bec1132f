"""The gateway's log files: one per day under `${DATA_DIR}/logs`, named `<YYYY-MM-DD>.log`
(local date), the newest `max_files` kept; and reading them back for the admin API.

A file is never renamed: at the first record of a new day the handler opens that day's file
and deletes the oldest beyond `max_files`. Several workers therefore append to the same
file safely (append mode, one `write()` per line; a line longer than the stream buffer, 8 KiB,
may be split) and prune the same way; a file another worker already deleted is skipped.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["DailyFileHandler", "JsonFormatter", "LOG_NAME", "list_files", "log_dir",
           "tail_lines"]

#: The only names the admin API reads: a date and `.log`.
LOG_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.log$")
#: The tail reads at most this much from the end of a file.
TAIL_BYTES = 1 << 20


def log_dir(data_dir: Path) -> Path:
    """Where the log files of a data directory go."""
    return Path(data_dir) / "logs"


def _day_bounds(now: float) -> tuple[str, float]:
    """The local date of `now` as a file stem, and when the next day starts."""
    day = dt.datetime.fromtimestamp(now).date()
    tomorrow = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return day.isoformat(), tomorrow.timestamp()


class DailyFileHandler(logging.StreamHandler):
    """Appends to the current day's file; `clock` is for tests."""

    def __init__(self, directory: Path, *, max_files: int = 7,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(stream=None)
        self.directory = Path(directory)
        self.max_files = max(1, max_files)
        self.clock = clock
        self.path: Path | None = None
        self._next_day = 0.0
        self.stream = None  # type: ignore[assignment]

    def _open_today(self, now: float) -> None:
        stem, self._next_day = _day_bounds(now)
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.stream is not None:
            self.stream.close()
        self.path = self.directory / f"{stem}.log"
        self.stream = open(self.path, "a", encoding="utf-8")
        self.prune()

    def prune(self) -> None:
        """Delete the oldest files beyond `max_files` (today's is never one of them)."""
        names = sorted((p.name for p in self.directory.iterdir() if LOG_NAME.match(p.name)),
                       reverse=True)
        for name in names[self.max_files:]:
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:  # another worker pruned it first
                pass

    def emit(self, record: logging.LogRecord) -> None:
        now = self.clock()
        if self.stream is None or now >= self._next_day:
            try:
                self._open_today(now)
            except OSError:
                self.handleError(record)
                return
        super().emit(record)

    def close(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()
                self.stream = None
        finally:
            self.release()
            logging.Handler.close(self)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Reads the record after the secret filter rewrote it (the
    message with its arguments merged in, the traceback text), so nothing here unmasks."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "process": record.process,
        }
        exc = record.exc_text or (self.formatException(record.exc_info)
                                  if record.exc_info else None)
        if exc:
            out["exc_info"] = exc
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)


def list_files(directory: Path) -> list[dict[str, Any]]:
    """The log files, newest first: name, size and modification time (ms)."""
    if not directory.is_dir():
        return []
    files = []
    for path in directory.iterdir():
        if not LOG_NAME.match(path.name):
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        files.append({"name": path.name, "size_bytes": st.st_size,
                      "mtime_ms": int(st.st_mtime * 1000)})
    files.sort(key=lambda f: f["name"], reverse=True)
    return files


def _plain(line: str) -> str:
    """A JSON line as `2026-01-01 12:00:00 | INFO     | logger - message`; others as they are."""
    if not line.startswith("{"):
        return line
    try:
        obj = json.loads(line)
    except ValueError:
        return line
    if not isinstance(obj, dict) or "message" not in obj:
        return line
    when = str(obj.get("time", ""))[:19].replace("T", " ")
    text = f"{when} | {str(obj.get('level', '')):<8} | {obj.get('logger', '')} - " \
           f"{obj.get('message', '')}"
    rid = obj.get("request_id")
    if rid and rid != "-":
        text += f" [{rid}]"
    if obj.get("exc_info"):
        text += "\n" + str(obj["exc_info"])
    return text


def tail_lines(path: Path, lines: int, max_bytes: int = TAIL_BYTES,
               contains: str | None = None) -> list[str]:
    """The last `lines` lines of `path`, read from at most its last `max_bytes` (a first
    partial line dropped), JSON lines reformatted as plain ones. With `contains`, only the
    lines holding it (case-insensitive): the last N matches of the tail, not the matches
    among the last N lines, so a rare error is found among many routine lines."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        start = max(0, size - max_bytes)
        f.seek(start)
        data = f.read()
    text = data.decode("utf-8", "replace").splitlines()
    if start > 0 and text:
        text = text[1:]
    if lines <= 0:
        return []
    if not contains:
        return [_plain(line) for line in text[-lines:]]
    needle = contains.casefold()
    found = [plain for plain in map(_plain, text) if needle in plain.casefold()]
    return found[-lines:]
