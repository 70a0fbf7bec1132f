"""Connection handling over raw sockets against the gateway as `grok2api serve` configures
Hypercorn: a connection that sends no complete head is closed, an idle keep-alive connection
closes after `server.keep_alive_sec`, a stalled body is a 408 on both kinds of route, and
beyond `server.max_connections` a new connection gets a 503 with Retry-After."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from hypercorn.asyncio import serve

from ops.serve import hypercorn_config
from quart_app.app import create_app
from quart_app import connections
from quart_app.connections import GuardedTCPServer
from state.boot import BootConfig
from state.settings import Settings
from tests.integration.conftest import free_port

HOST = "127.0.0.1"
#: Time the loaded test machine may add to any deadline.
SLACK = 1.5


class Server:
    def __init__(self, port: int) -> None:
        self.port = port

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(HOST, self.port)


Start = Callable[..., Awaitable[Server]]


@pytest_asyncio.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[Start]:
    """Starts the whole app under Hypercorn with `hypercorn_config`, settings from `GROK_*`
    variables; upstream origins point at a closed loopback port (nothing here goes upstream)."""
    running: list[tuple[asyncio.Event, asyncio.Task]] = []
    nowhere = f"http://{HOST}:{free_port()}"

    async def start(**settings: str) -> Server:
        env = {"DATA_DIR": str(tmp_path), "SERVER_HOST": HOST, "SERVER_PORT": str(free_port()),
               "GROK_UPSTREAM_BASE_URL": nowhere, "GROK_UPSTREAM_ASSETS_URL": nowhere,
               "GROK_UPSTREAM_ACCOUNTS_URL": nowhere, "GROK_APP_API_KEY": "sk-conn-test",
               **settings}
        boot = BootConfig.from_env(env, dotenv=False)
        options = Settings.from_boot(boot)
        app = create_app(boot, options)
        config = hypercorn_config(boot, options.options)
        config.graceful_timeout = 0.5
        config.workers = 1  # one process here, whatever SERVER_WORKERS says
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
        running.append((stop, task))
        server = Server(boot.port)
        for _ in range(250):
            try:
                reader, writer = await server.connect()
            except OSError:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
                continue
            status, _, _ = await exchange(reader, writer, get("/health"))
            writer.close()
            assert status == 200
            return server
        raise RuntimeError("the gateway did not start")

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 10)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def post_head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return int(lines[0].split()[1]), headers, body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   raw: bytes) -> tuple[int, dict[str, str], bytes]:
    writer.write(raw)
    await writer.drain()
    return await asyncio.wait_for(read_response(reader), 10)


async def closed_after(reader: asyncio.StreamReader, started: float, limit: float) -> float:
    """Seconds from `started` until the server closed the connection (reading nothing)."""
    try:
        data = await asyncio.wait_for(reader.read(1024), limit)
    except ConnectionResetError:
        data = b""
    assert data == b"", data
    return time.monotonic() - started


async def still_open(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return True
    return False


async def test_connections_that_send_no_complete_head_are_closed_within_the_head_timeout(
        start_server: Start) -> None:
    server = await start_server(GROK_SERVER_HEAD_TIMEOUT_SEC="2")
    started = time.monotonic()
    silent = [await server.connect() for _ in range(200)]
    trickling = [await server.connect() for _ in range(5)]

    async def trickle(writer: asyncio.StreamWriter) -> None:
        try:
            for byte in get("/health")[:-2]:  # never the blank line that ends the head
                writer.write(bytes([byte]))
                await asyncio.sleep(0.25)
        except ConnectionError:
            pass  # closed by the server

    feeders = [asyncio.create_task(trickle(w)) for _, w in trickling]
    took = await asyncio.gather(*(closed_after(r, started, 2 + 2 * SLACK)
                                  for r, _ in silent + trickling))
    for task in feeders:
        task.cancel()
    assert min(took) >= 1.8 and max(took) <= 2 + SLACK, (min(took), max(took))
    for _, writer in silent + trickling:
        writer.close()
    # the server still serves
    reader, writer = await server.connect()
    assert (await exchange(reader, writer, get("/health")))[0] == 200
    writer.close()


async def test_an_idle_keep_alive_connection_closes_after_keep_alive_sec(
        start_server: Start) -> None:
    server = await start_server(GROK_SERVER_HEAD_TIMEOUT_SEC="1",
                                GROK_SERVER_KEEP_ALIVE_SEC="3")
    reader, writer = await server.connect()
    assert (await exchange(reader, writer, get("/health")))[0] == 200
    # idle for longer than the head timeout: a kept-alive connection has the keep-alive time
    assert await still_open(reader, 2.0)
    status, headers, _ = await exchange(reader, writer, get("/health"))
    assert status == 200 and headers.get("connection") != "close"
    answered = time.monotonic()
    took = await closed_after(reader, answered, 3 + 2 * SLACK)
    assert 2.8 <= took <= 3 + SLACK, took
    writer.close()


@pytest.mark.parametrize("path,sent,anthropic", [
    ("/v1/chat/completions", b'{"model": "grok', False),   # fast path, stalls mid-way
    ("/v1/messages", b"", True),                            # fast path, not a byte of body
    ("/admin/api/tokens/add", b'{"tokens": ["ab', False),  # a Quart route, mid-way
])
async def test_a_stalled_body_is_answered_408(start_server: Start, path: str, sent: bytes,
                                              anthropic: bool) -> None:
    server = await start_server(GROK_SERVER_BODY_STALL_SEC="1")
    reader, writer = await server.connect()
    started = time.monotonic()
    status, headers, body = await exchange(reader, writer, post_head(path, 400) + sent)
    took = time.monotonic() - started
    assert status == 408 and 0.9 <= took <= 1 + SLACK, (status, took)
    payload = orjson.loads(body)
    assert ("type" in payload) is anthropic
    assert payload["error"]["code"] == "request_timeout"
    # the API keeps its CORS; the admin API never sends any
    assert headers.get("access-control-allow-origin") == (None if path.startswith("/admin") else "*")
    # the rest of that body will never be read: the connection ends
    await closed_after(reader, started, 5)
    writer.close()


async def test_a_body_that_trickles_for_too_long_is_answered_408(start_server: Start) -> None:
    server = await start_server(GROK_SERVER_BODY_STALL_SEC="1",
                                GROK_SERVER_BODY_TIMEOUT_SEC="2")
    reader, writer = await server.connect()
    writer.write(post_head("/v1/chat/completions", 400))
    started = time.monotonic()

    async def trickle() -> None:
        try:
            for _ in range(400):
                writer.write(b" ")
                await asyncio.sleep(0.3)  # each piece well within the stall limit
        except ConnectionError:
            pass

    feeder = asyncio.create_task(trickle())
    status, _, _ = await asyncio.wait_for(read_response(reader), 10)
    took = time.monotonic() - started
    feeder.cancel()
    assert status == 408 and 1.9 <= took <= 2 + SLACK, (status, took)
    writer.close()


async def test_beyond_max_connections_a_new_connection_gets_503(start_server: Start) -> None:
    server = await start_server(GROK_SERVER_MAX_CONNECTIONS="5",
                                GROK_SERVER_HEAD_TIMEOUT_SEC="30")
    for _ in range(100):  # the start-up probe's connection is gone
        if GuardedTCPServer.open_connections == 0:
            break
        await asyncio.sleep(0.02)
    held = [await server.connect() for _ in range(5)]
    for _ in range(100):
        if GuardedTCPServer.open_connections == 5:
            break
        await asyncio.sleep(0.02)

    for path, anthropic in [("/v1/messages", True), ("/v1/models", False)]:
        reader, writer = await server.connect()
        raw = post_head(path, 2) + b"{}" if anthropic else get(path)
        status, headers, body = await exchange(reader, writer, raw)
        assert status == 503 and headers["retry-after"] == "1"
        payload = orjson.loads(body)
        assert ("type" in payload) is anthropic
        assert payload["error"]["code"] == "too_many_connections"
        await closed_after(reader, time.monotonic(), 5)
        writer.close()

    # one of the held connections goes: the next one is served
    held[0][1].close()
    await held[0][1].wait_closed()
    for _ in range(100):
        if GuardedTCPServer.open_connections < 5:
            break
        await asyncio.sleep(0.02)
    reader, writer = await server.connect()
    assert (await exchange(reader, writer, get("/health")))[0] == 200
    writer.close()
    for _, w in held[1:]:
        w.close()


async def test_a_flood_beyond_the_cap_is_answered_and_closed_at_once(
        start_server: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "MAX_LINGERING", 3)
    server = await start_server(GROK_SERVER_MAX_CONNECTIONS="2",
                                GROK_SERVER_HEAD_TIMEOUT_SEC="30")
    held = [await server.connect() for _ in range(2)]
    for _ in range(100):
        if GuardedTCPServer.open_connections == 2:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    flood = [await server.connect() for _ in range(40)]  # silent: each would wait for a line

    async def answer(reader: asyncio.StreamReader) -> tuple[int, float]:
        status, _, _ = await asyncio.wait_for(read_response(reader), 5)
        return status, await closed_after(reader, started, 5)

    answers = await asyncio.gather(*(answer(r) for r, _ in flood))
    assert {status for status, _ in answers} == {503}
    took = sorted(t for _, t in answers)
    # at most MAX_LINGERING of them wait for a request line; the rest are closed at once
    assert took[-4] < 0.5 and took[-1] <= 2 * connections.REFUSE_GRACE + SLACK, took
    for _, w in held + flood:
        w.close()
