"""CurlTransport against a local aiohttp server (real sockets, plain HTTP/1.1)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from addons.events import UPSTREAM_TRUNCATED, End, Heartbeat, TextDelta, UpstreamFailure
from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.ratelimits import fetch_rate_limits
from addons.upstream.transport import CurlTransport, resolve_impersonate
from addons.upstream.upload import upload_file
from tests.addons.upstream import streams

TOKEN_LINE = b'{"result":{"response":{"token":"x","isThinking":false,"messageTag":"final"}}}\n'
SOFT_STOP = b'{"result":{"response":{"token":"","isSoftStop":true}}}\n'
MODEL_RESPONSE = b'{"result":{"response":{"modelResponse":{"responseId":"r1","message":"x"}}}}\n'
MAX_CLIENTS = 4


@dataclass
class Server:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False


async def _stream(request: web.Request, server: Server, body: bytes, delay: float,
                  chunk: int = 0, hold: float = 0.0) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.content_type = "application/x-ndjson"
    await resp.prepare(request)
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] if chunk else body.splitlines(True)
    try:
        for part in parts:
            await resp.write(part)
            await asyncio.sleep(delay)
        if hold:
            await asyncio.sleep(hold)
        await resp.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        server.disconnected.set()
    return resp


def _app(server: Server) -> web.Application:
    async def record(request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        server.seen.append({"version": request.version, "headers": dict(request.headers),
                            "body": await request.read(), "path": request.path,
                            "method": request.method, "peer": peer})

    async def handler(request: web.Request) -> web.StreamResponse:
        await record(request)
        name = request.match_info["name"]
        if name == "plain":
            return await _stream(request, server, streams.PLAIN, 0.01, chunk=37)
        if name == "forever":
            return await _stream(request, server, TOKEN_LINE * 10_000, 0.02)
        if name == "stall-body":
            return await _stream(request, server, TOKEN_LINE, 0.0, hold=30)
        if name == "stall-headers":
            await asyncio.sleep(30)
        if name == "headers-only":
            return await _stream(request, server, b"", 0.0, hold=30)
        if name == "paced":  # metadata, then 12 tokens 20 ms apart
            meta = b'{"result":{"response":{"userResponse":{"responseId":"u1"}}}}\n'
            return await _stream(request, server, meta + TOKEN_LINE * 12 + SOFT_STOP, 0.02)
        if name == "short":  # a whole answer in one write
            return await _stream(request, server, TOKEN_LINE * 2 + SOFT_STOP, 0.0, chunk=4096)
        if name == "nostop":  # ends cleanly, but before any end marker
            return await _stream(request, server, TOKEN_LINE * 2, 0.0, chunk=4096)
        if name == "answered-stall":  # the assembled answer, then silence instead of the soft stop
            return await _stream(request, server, TOKEN_LINE + MODEL_RESPONSE, 0.0, hold=30)
        if name == "truncated":
            return await _stream(request, server, TOKEN_LINE + b'{"result":{"resp', 0.0)
        if name == "inband":
            body = TOKEN_LINE + b'{"error":{"code":8,"message":"Too many requests"}}\n' + TOKEN_LINE
            return await _stream(request, server, body, 0.0, hold=30)
        if name in ("cut", "answered-cut"):
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(TOKEN_LINE + (MODEL_RESPONSE if name == "answered-cut" else b"")
                             + b'{"result":')
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.abort()
            return resp
        if name == "429":
            return web.json_response({"error": {"code": 8, "message": "Too many requests " + "z" * 100}},
                                     status=429)
        if name == "rest/rate-limits" and server.fail:
            return web.json_response(
                {"error": {"code": 16, "message": "nope [WKE=unauthorized:invalid-credentials]"}}, status=401)
        if name == "rest/rate-limits":
            return web.json_response({"windowSizeSeconds": 7200, "remainingQueries": 48,
                                      "totalQueries": 50, "lowEffortRateLimits": None})
        if name == "rest/app-chat/upload-file":
            return web.json_response({"fileMetadataId": "fm1", "fileUri": "users/u/fm1/content"})
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{name:.*}", handler)
    return app


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(url="")
    runner = web.AppRunner(_app(srv), handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


@pytest.fixture
async def transport(server: Server) -> AsyncIterator[CurlTransport]:
    tr = CurlTransport(UpstreamConfig(base_url=server.url), MAX_CLIENTS)
    yield tr
    await tr.aclose()


def req(server: Server, name: str, payload: Any = None) -> UpstreamRequest:
    cfg = UpstreamConfig(base_url=server.url)
    headers = build_headers(cfg, "sso-secret", origin=server.url, referer=server.url + "/")
    return UpstreamRequest("POST", f"{server.url}/{name}", headers, payload or {"message": "hi"})


def pool_free(tr: CurlTransport) -> int:
    return tr.free_clients()


async def collect(stream: Any) -> list[Any]:
    return [ev async for batch in stream.events() for ev in batch]


def test_impersonate_fallbacks() -> None:
    assert resolve_impersonate("chrome136") == "chrome136"
    assert resolve_impersonate("netscape4") == "chrome136"


async def test_stream_events_status_and_request(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "plain", {"modeId": "fast"}), Timeouts())
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("application/x-ndjson")
    events = await collect(stream)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "2 + 2 equals **4**."
    assert isinstance(events[-1], End)
    seen = server.seen[0]
    # plain http: HTTP/1.1 stays pinned despite the impersonation (a known trap)
    assert seen["version"] == (1, 1) and "Upgrade" not in seen["headers"]
    assert seen["headers"]["Cookie"] == "sso=sso-secret; sso-rw=sso-secret"
    assert json.loads(seen["body"]) == {"modeId": "fast"}
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert pool_free(transport) == MAX_CLIENTS


async def test_coalescing_gathers_tokens_but_never_holds_the_first(
        server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "paced"), Timeouts(coalesce=0.1))
    texts: list[int] = []  # tokens per batch that carried text
    async for batch in stream.events():
        n = sum(len(e.text) for e in batch if isinstance(e, TextDelta))
        if n:
            texts.append(n)
    assert sum(texts) == 12
    assert texts[0] == 1  # the first token went on alone, not held for the window
    assert max(texts) >= 3  # later ones were gathered (one frame each 20 ms, 100 ms window)
    assert len(texts) <= 6


async def test_coalescing_never_holds_back_the_end_of_the_answer(
        server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "paced"), Timeouts(coalesce=30.0))
    start = time.monotonic()
    events = await asyncio.wait_for(collect(stream), 10)  # not the 30 s window
    assert time.monotonic() - start < 10
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "x" * 12
    assert isinstance(events[-1], End)


async def test_non_200_error_body(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "429"), Timeouts())
    assert stream.status == 429
    body = await stream.error_body(40)
    assert len(body) == 40 and body.startswith('{"error": {"code": 8')
    assert await stream.error_body(40) == body
    await stream.aclose()


async def test_first_byte_timeout_frees_handle(server: Server, transport: CurlTransport) -> None:
    for name in ("stall-headers", "headers-only"):
        start = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            await transport.open(req(server, name), Timeouts(first_byte=0.3))
        assert info.value.kind == "first_byte"
        assert time.monotonic() - start < 1.5
    await asyncio.sleep(0.1)
    assert pool_free(transport) == MAX_CLIENTS
    stream = await transport.open(req(server, "plain"), Timeouts())
    assert isinstance((await collect(stream))[-1], End)


async def test_cancelled_open_frees_handle(server: Server, transport: CurlTransport) -> None:
    task = asyncio.create_task(transport.open(req(server, "stall-headers"), Timeouts()))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert pool_free(transport) == MAX_CLIENTS


async def test_idle_timeout_with_heartbeats(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "stall-body"), Timeouts(idle=0.5, heartbeat=0.1))
    batches: list[list[Any]] = []
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        async for batch in stream.events():
            batches.append(batch)
    assert info.value.kind == "idle"
    events = [ev for batch in batches for ev in batch]
    assert 0.4 < time.monotonic() - start < 1.5
    assert isinstance(events[0], TextDelta)
    assert sum(batch == [Heartbeat()] for batch in batches) >= 3
    assert stream.closed
    await asyncio.wait_for(server.disconnected.wait(), 2)


async def test_total_timeout(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "forever"), Timeouts(total=0.6, idle=5))
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        await collect(stream)
    assert info.value.kind == "total"
    assert time.monotonic() - start < 1.5
    await asyncio.wait_for(server.disconnected.wait(), 2)


async def test_aclose_mid_stream_is_immediate(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "forever"), Timeouts())
    n = 0
    async for batch in stream.events():
        n += sum(isinstance(ev, TextDelta) for ev in batch)
        if n >= 3:
            break
    start = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - start < 1.0
    await asyncio.wait_for(server.disconnected.wait(), 1.0)  # the server saw the disconnect
    await asyncio.sleep(0.05)
    assert pool_free(transport) == MAX_CLIENTS
    again = await transport.open(req(server, "plain"), Timeouts())
    assert isinstance((await collect(again))[-1], End)


async def test_cancelled_consumer_stops_transfer(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "forever"), Timeouts())

    async def consume() -> None:
        async for _ in stream.events():
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.closed
    await asyncio.wait_for(server.disconnected.wait(), 1.0)


async def test_in_band_error_ends_iteration(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "inband"), Timeouts())
    start = time.monotonic()
    events = await collect(stream)
    assert time.monotonic() - start < 1.0
    assert [type(e) for e in events] == [TextDelta, UpstreamFailure]
    assert events[1].status == 429
    assert stream.closed


async def test_a_whole_answer_ends(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "short"), Timeouts())
    assert await collect(stream) == [TextDelta("xx"), End()]  # one read: one delta
    assert stream.closed


async def test_clean_eof_before_the_end_marker_is_a_truncation(
        server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "nostop"), Timeouts())
    events = await collect(stream)
    assert events[0] == TextDelta("xx") and not any(isinstance(e, End) for e in events)
    assert isinstance(events[-1], UpstreamFailure)
    assert (events[-1].status, events[-1].code) == (502, UPSTREAM_TRUNCATED)
    assert stream.closed


@pytest.mark.parametrize("name", ["answered-cut", "answered-stall"])
async def test_after_the_assembled_answer_a_late_or_broken_end_still_ends(
        server: Server, transport: CurlTransport, name: str) -> None:
    # `modelResponse` is an end marker: the soft stop that should follow it no longer matters
    stream = await transport.open(req(server, name), Timeouts(idle=0.3, heartbeat=5))
    events = await asyncio.wait_for(collect(stream), 5)
    assert isinstance(events[-1], End) and not any(isinstance(e, UpstreamFailure) for e in events)


async def test_truncated_body_is_failure(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "truncated"), Timeouts())
    events = await collect(stream)
    assert isinstance(events[0], TextDelta)
    assert isinstance(events[-1], UpstreamFailure) and events[-1].status == 502
    assert events[-1].code == UPSTREAM_TRUNCATED


async def test_connection_cut_mid_body(server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "cut"), Timeouts())
    events: list[Any] = []
    with pytest.raises(TransportError) as info:
        async for batch in stream.events():
            events.extend(batch)
    assert isinstance(events[0], TextDelta)
    assert "sso" not in str(info.value)


async def test_connection_refused_message_has_no_secrets(transport: CurlTransport) -> None:
    bad = UpstreamRequest("POST", "http://127.0.0.1:1/x", {"Cookie": "sso=topsecret"}, {})
    with pytest.raises(TransportError) as info:
        await transport.open(bad, Timeouts())
    assert "topsecret" not in str(info.value) and info.value.__cause__ is None


async def test_rate_limits_and_upload_over_curl(server: Server, transport: CurlTransport) -> None:
    cfg = UpstreamConfig(base_url=server.url)
    limits = await fetch_rate_limits(transport, cfg, "tok", "expert")
    assert (limits.remaining, limits.total, limits.window_seconds) == (48, 50, 7200)
    assert server.seen[-1]["path"] == "/rest/rate-limits"
    assert json.loads(server.seen[-1]["body"]) == {"modelName": "expert"}
    uploaded = await upload_file(transport, cfg, "tok", "file.png", "image/png", b"\x89PNG")
    assert uploaded.file_id == "fm1" and uploaded.file_uri == "users/u/fm1/content"
    assert json.loads(server.seen[-1]["body"]) == {
        "fileName": "file.png", "fileMimeType": "image/png", "content": "iVBORw=="}

    server.fail = True
    with pytest.raises(UpstreamHTTPError) as info:
        await fetch_rate_limits(transport, cfg, "tok", "fast")
    assert info.value.status == 401 and info.value.marker == "invalid-credentials"


def test_batch_cut_at_terminal_event() -> None:
    from addons.events import FinalMessage
    from addons.upstream.curl_stream import _cut

    text, final, fail = TextDelta("a"), FinalMessage("a"), UpstreamFailure(502, "x")
    assert _cut([text]) == ([text], False)
    assert _cut([text, End(), final]) == ([text, final, End()], True)
    assert _cut([text, fail]) == ([text, fail], True)
    assert _cut([End(), text, fail]) == ([text, End()], True)


async def test_frames_written_together_arrive_as_one_batch(
        server: Server, transport: CurlTransport) -> None:
    stream = await transport.open(req(server, "short"), Timeouts())
    batches = [batch async for batch in stream.events()]
    assert batches[0][0] == TextDelta("xx")  # both frames parsed together, joined
    assert [ev for batch in batches for ev in batch] == [TextDelta("xx"), End()]
