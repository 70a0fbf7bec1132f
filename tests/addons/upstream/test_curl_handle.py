"""The memory a pooled curl handle holds: no WebSocket buffer on HTTP-only handles (a private
attribute of curl_cffi, guarded here), no request body once a transfer ended, and an idle
pool that shrinks back after a burst."""
from __future__ import annotations

import asyncio

import pytest
from curl_cffi import Curl
from curl_cffi._wrapper import ffi

from addons.events import End
from addons.upstream.base import Timeouts
from addons.upstream.config import UpstreamConfig
from addons.upstream.curl_handle import PooledCurl
from addons.upstream.transport import CurlTransport
from addons.upstream.ws_connect import WsConnector
from tests.addons.upstream.test_transport import Server, collect, req, server  # noqa: F401


def test_curl_cffi_still_sizes_its_websocket_buffer_from_the_class_attribute() -> None:
    # PooledCurl relies on this: if the library renames or stops reading the attribute, every
    # pooled handle silently carries 128 KiB again (1,000 open streams: +125 MiB)
    plain = Curl()
    try:
        assert Curl._WS_RECV_BUFFER_SIZE >= 64 * 1024
        assert ffi.sizeof(plain._ws_recv_buffer) == Curl._WS_RECV_BUFFER_SIZE
    finally:
        plain.close()
    pooled = PooledCurl()
    try:
        assert ffi.sizeof(pooled._ws_recv_buffer) == 0
    finally:
        pooled.close()


async def test_websocket_handles_keep_their_receive_buffer() -> None:
    # the mgw and imagine sockets open on the WsConnector's own session: plain Curl handles
    rest = CurlTransport(UpstreamConfig(base_url="http://127.0.0.1:9"))
    connector = WsConnector(rest.cfg, rest)
    session = connector._ws_session()
    curl = await session.pop_curl()
    try:
        assert not isinstance(curl, PooledCurl)
        assert ffi.sizeof(curl._ws_recv_buffer) == Curl._WS_RECV_BUFFER_SIZE
    finally:
        session.push_curl(curl)
        await session.close()
        await rest.aclose()


async def test_pooled_handles_have_no_websocket_buffer_and_keep_no_body(server: Server) -> None:  # noqa: F811
    tr = CurlTransport(UpstreamConfig(base_url=server.url), max_clients=1)
    try:
        stream = await tr.open(req(server, "short", {"big": "x" * 10_000}), Timeouts())
        assert isinstance((await collect(stream))[-1], End)
        assert tr._pool is not None
        (handle,) = tr._pool._idle
        assert isinstance(handle.curl, PooledCurl)
        assert handle._body is None  # the 10 kB request is not pinned by the idle handle
        # and the handle, back in POST mode with an empty body, sends the next one whole
        stream = await tr.open(req(server, "short", {"n": 2}), Timeouts())
        assert isinstance((await collect(stream))[-1], End)
        assert server.seen[-1]["body"] == b'{"n":2}'
    finally:
        await tr.aclose()


@pytest.mark.parametrize("keep", [0, 2])
async def test_idle_pool_shrinks_to_its_low_water_mark_after_a_quiet_period(
        server: Server, keep: int) -> None:  # noqa: F811
    tr = CurlTransport(UpstreamConfig(base_url=server.url), max_clients=8, idle_keep=keep,
                       idle_trim_after=0.3)
    try:
        streams = [await tr.open(req(server, "stall-body"), Timeouts()) for _ in range(6)]
        for stream in streams:
            await stream.aclose()
        assert tr._pool is not None and len(tr._pool._idle) == 6
        await asyncio.sleep(0.1)
        assert len(tr._pool._idle) == 6  # not before the quiet period
        await asyncio.sleep(0.5)
        assert len(tr._pool._idle) == keep
        # the pool still serves, on a kept handle or a new one
        stream = await tr.open(req(server, "short"), Timeouts())
        assert isinstance((await collect(stream))[-1], End)
    finally:
        await tr.aclose()
