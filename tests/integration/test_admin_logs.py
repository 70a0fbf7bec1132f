"""The log files over real sockets: with `LOG_FORMAT=json` each line of a request is one
JSON object carrying its id, no key reaches the file, and `/admin/api/logs/files` and
`/admin/api/logs/tail` list and read the files, refusing any name but a log file's."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ops.logs import configure_file_logging, configure_logging

ADMIN = "logs-admin-secret-4c1d"
API_KEY = "sk-logs-client-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def json_logs(stack) -> Iterator[None]:
    """The serving process's logging (stderr to a buffer, files under DATA_DIR) in JSON."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    env = {"LOG_FORMAT": "json"}
    configure_logging("INFO", stream=io.StringIO(), env=env)
    handler = configure_file_logging(stack.data_dir, 3, env=env)
    try:
        yield
    finally:
        handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


async def get(http, path: str, **kw):
    async with http.get(path, **kw) as resp:
        return resp.status, await resp.json()


async def test_json_file_lines_and_the_admin_logs_routes(stack, json_logs):
    await stack.start_gateway(GROK_APP_APP_KEY=ADMIN, GROK_APP_API_KEY=API_KEY)
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", headers={
                "Authorization": f"Bearer {API_KEY}", "X-Request-Id": "trace-file-1"},
                json={"model": "grok-4.20-fast",
                      "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 429  # no account: refused, and logged
        async with http.get("/v1/models", headers={"x-api-key": "sk-wrong-key-0123"}) as resp:
            assert resp.status == 401

        status, listing = await get(http, "/admin/api/logs/files", headers=AUTH)
        assert status == 200 and len(listing["files"]) == 1
        name = listing["files"][0]["name"]
        assert listing["files"][0]["size_bytes"] > 0 and listing["files"][0]["mtime_ms"] > 0
        raw = (stack.data_dir / "logs" / name).read_text()
        lines = [json.loads(line) for line in raw.splitlines()]
        access = [r for r in lines if r["logger"] == "grok2api.access"
                  and "/v1/chat/completions" in r["message"]]
        assert len(access) == 1 and access[0]["request_id"] == "trace-file-1"
        assert {"time", "level", "logger", "message", "request_id", "process"} <= set(access[0])
        assert API_KEY not in raw and ADMIN not in raw and "sk-wrong-key-0123" not in raw

        status, tail = await get(http, "/admin/api/logs/tail?lines=2", headers=AUTH)
        assert status == 200 and tail["file"] == name and len(tail["lines"]) == 2
        assert all(" | " in line and not line.startswith("{") for line in tail["lines"])
        status, tail = await get(http, f"/admin/api/logs/tail?file={name}&lines=999999",
                                 headers=AUTH)
        assert status == 200 and any("trace-file-1" in line for line in tail["lines"])
        assert (await get(http, "/admin/api/logs/tail?lines=0", headers=AUTH))[0] == 200
        # a text filter: only the lines holding it (any case), the last N of them
        status, tail = await get(http, "/admin/api/logs/tail?q=TRACE-FILE-1&lines=5",
                                 headers=AUTH)
        assert status == 200 and tail["lines"]
        assert all("trace-file-1" in line for line in tail["lines"])
        status, tail = await get(http, "/admin/api/logs/tail?q=no-such-text-here",
                                 headers=AUTH)
        assert status == 200 and tail["lines"] == []
        status, body = await get(http, "/admin/api/logs/tail?q=" + "x" * 201, headers=AUTH)
        assert status == 400 and body["error"]["param"] == "q"

        for bad in ("../config.toml", "..%2Fconfig.toml", "%2Fetc%2Fpasswd", "accounts.db",
                    f"{name}%2F..%2F..%2Fconfig.toml", "2026-01-01.log%00", ".%2F" + name):
            status, body = await get(http, f"/admin/api/logs/tail?file={bad}", headers=AUTH)
            assert status == 400 and body["error"]["param"] == "file", bad
        status, body = await get(http, "/admin/api/logs/tail?file=1999-01-01.log", headers=AUTH)
        assert status == 404 and body["error"]["code"] == "file_not_found"
        assert (await get(http, "/admin/api/logs/files"))[0] == 401
        assert (await get(http, "/admin/api/logs/tail"))[0] == 401
