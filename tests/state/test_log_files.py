"""The daily log files: a new file each day, only `max_files` kept, workers sharing a file;
JSON lines with the request id and the traceback, secrets masked; the admin tail's reading."""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from quart_app import request_log
from quart_app.request_log import RequestIdFilter, RequestInfo
from state.log_files import DailyFileHandler, JsonFormatter, list_files, tail_lines
from state.redact import RedactFilter

DAY = 86400.0


def noon(day: int) -> float:
    return dt.datetime(2026, 1, day, 12, 0, 0).timestamp()


def record(msg: str, *args, level=logging.INFO, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("grok2api.test", level, __file__, 1, msg, args, exc_info)


def test_a_new_file_each_day_and_only_max_files_kept(tmp_path: Path) -> None:
    now = [noon(1)]
    handler = DailyFileHandler(tmp_path, max_files=3, clock=lambda: now[0])
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        for day in range(1, 7):
            now[0] = noon(day)
            handler.emit(record("line of day %d", day))
            handler.emit(record("second line of day %d", day))
    finally:
        handler.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["2026-01-04.log", "2026-01-05.log", "2026-01-06.log"]
    assert (tmp_path / "2026-01-06.log").read_text().splitlines() == [
        "line of day 6", "second line of day 6"]
    assert [f["name"] for f in list_files(tmp_path)] == names[::-1]  # newest first


def test_two_handlers_share_the_day_file(tmp_path: Path) -> None:
    """Two workers append to one file; neither loses the other's lines, and pruning by one
    does not break the other."""
    now = [noon(1)]
    a = DailyFileHandler(tmp_path, max_files=1, clock=lambda: now[0])
    b = DailyFileHandler(tmp_path, max_files=1, clock=lambda: now[0])
    try:
        a.emit(record("a1"))
        b.emit(record("b1"))
        now[0] = noon(2)
        a.emit(record("a2"))  # prunes day 1, b's file
        b.emit(record("b2"))
    finally:
        a.close()
        b.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-02.log"]
    assert (tmp_path / "2026-01-02.log").read_text().splitlines() == ["a2", "b2"]


def test_json_lines_carry_the_request_id_and_traceback_masked(tmp_path: Path) -> None:
    secret = "Bearer sk-json-line-secret-0123456789"
    handler = DailyFileHandler(tmp_path, max_files=2)
    handler.addFilter(RedactFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    token = request_log._current.set(RequestInfo("req-json-1", "POST", "/v1/x", 0.0))
    try:
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            import sys
            handler.handle(record("call with %s failed", secret, level=logging.ERROR,
                                  exc_info=sys.exc_info()))
    finally:
        request_log._current.reset(token)
        handler.handle(record("outside a request"))
        handler.close()
    text = handler.path.read_text()
    assert "sk-json-line-secret" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["request_id"] == "req-json-1" and first["level"] == "ERROR"
    assert first["logger"] == "grok2api.test" and "failed" in first["message"]
    assert "RuntimeError" in first["exc_info"] and first["time"].endswith("Z")
    assert second["request_id"] == "-" and "exc_info" not in second
    # the admin tail shows JSON lines as plain ones
    lines = tail_lines(handler.path, 10)
    assert lines[1].endswith("| grok2api.test - outside a request")
    assert "| ERROR    | grok2api.test - call with" in lines[0] and "[req-json-1]" in lines[0]


def test_the_tail_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01.log"
    path.write_text("".join(f"line {i}\n" for i in range(10_000)))
    assert tail_lines(path, 3) == ["line 9997", "line 9998", "line 9999"]
    within = tail_lines(path, 10_000, max_bytes=100)
    assert within[-1] == "line 9999" and len(within) < 20
    assert all(line.startswith("line ") for line in within)  # no partial first line


def test_a_filtered_tail_is_the_last_matches_of_the_end(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01.log"
    path.write_text("".join(f"line {i} {'ERROR' if i % 1000 == 7 else 'ok'}\n"
                            for i in range(10_000)))
    # the last 2 matches, though neither is among the last 2 lines; any case
    assert tail_lines(path, 2, contains="error") == ["line 8007 ERROR", "line 9007 ERROR"]
    assert tail_lines(path, 50, contains="Error") == [f"line {i * 1000 + 7} ERROR" for i in range(10)]
    assert tail_lines(path, 50, contains="error", max_bytes=100) == []  # only the end is read
    assert tail_lines(path, 5, contains="nowhere") == []
