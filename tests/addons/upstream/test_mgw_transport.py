"""MgwTransport against the simulator (real sockets): identity, handshake, turn, refusals,
timeouts, heartbeat and cancellation."""
from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import AsyncIterator

import pytest

from addons.events import ConversationStarted, End, Heartbeat, TextDelta, UpstreamFailure
from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.chat_payload import build_chat_payload
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.mgw import MgwTransport
from addons.upstream.transport import CurlTransport
from ops.simulator.app import RunningSimulator, start_simulator

SESSION = "/api/auth/session"
FAST = Timeouts(first_byte=5, idle=5, total=30, heartbeat=5)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    running.state.add_token("tok", "super")
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def mgw(sim) -> AsyncIterator[MgwTransport]:
    cfg = UpstreamConfig(base_url=sim.url)
    rest = CurlTransport(cfg)
    transport = MgwTransport(cfg, rest, ws_url="wss://grok.com", ping_interval=0.05)
    try:
        yield transport
    finally:
        await transport.aclose()
        await rest.aclose()


def request(sim, message: str, mode: str = "fast", token: str = "tok", **overrides) -> UpstreamRequest:
    cfg = UpstreamConfig(base_url=sim.url)
    headers = build_headers(cfg, token, origin="https://grok.com", referer="https://grok.com/")
    return UpstreamRequest("POST", sim.url + "/rest/app-chat/conversations/new", headers,
                           build_chat_payload(cfg, message, mode, overrides=overrides))


async def collect(stream) -> list:
    out: list = []
    async for batch in stream.events():
        out += batch
    return out


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_turn_and_identity_cache(sim, mgw):
    assert mgw.ws_base == "ws" + sim.url[4:]
    first, second = await asyncio.gather(mgw.open(request(sim, "[[sim tokens=3]]"), FAST),
                                         mgw.open(request(sim, "[[sim tokens=2]]"), FAST))
    assert first.status == second.status == 200
    a, b = await collect(first), await collect(second)
    assert isinstance(a[0], ConversationStarted) and isinstance(a[-1], End)
    assert text_of(a) == "w0 w1 w2 " and text_of(b) == "w0 w1 "
    third = await mgw.open(request(sim, "hi"), FAST)
    await collect(third)
    assert len(sim.state.requests_to(SESSION)) == 1  # one identity lookup per account
    assert len(sim.state.mgw_sessions) == 3


async def test_file_ids_become_mentions(sim, mgw):
    item = sim.state.add_file(sim.state.tokens["tok"], "a.png", "image/png", b"png")
    stream = await mgw.open(request(sim, "look", fileAttachments=[item.file_id]), FAST)
    assert isinstance((await collect(stream))[-1], End)
    session = sim.state.mgw_sessions[-1]
    assert session.file_ids == [item.file_id]
    chunks = session.events("conversation.item.create")[0]["item"]["x_grok"]["input_chunks"]
    assert chunks[0] == {"mention": {"target": {"file_mention": {"file_id": item.file_id}}}}


async def test_identity_refusal_is_a_status_stream(sim, mgw):
    sim.state.add_token("dead", "super", status="expired")
    stream = await mgw.open(request(sim, "hi", token="dead"), FAST)
    assert stream.status == 401 and "invalid-credentials" in await stream.error_body()
    assert sim.state.requests_to("/ws/mgw/") == []


@pytest.mark.parametrize("fault,status,marker", [
    ("401", 401, "invalid-credentials"), ("403_blocked", 403, "blocked-user"),
    ("429", 429, "Refused WebSocket upgrade: 429"), ("503", 503, "503"),
])
async def test_refused_handshake(sim, mgw, fault, status, marker):
    await collect(await mgw.open(request(sim, "hi"), FAST))  # caches the user id
    sim.state.inject(fault)
    stream = await mgw.open(request(sim, "hi"), FAST)
    assert stream.status == status
    assert marker in await stream.error_body()
    await stream.aclose()
    await collect(await mgw.open(request(sim, "hi"), FAST))
    lookups = len(sim.state.requests_to(SESSION))
    assert lookups == (2 if status in (401, 403) else 1)  # an account refusal drops the cache


async def test_in_band_error_and_timeouts(sim, mgw):
    events = await collect(await mgw.open(request(sim, "[[sim fault=inband_first]]"), FAST))
    assert isinstance(events[-1], UpstreamFailure) and events[-1].status == 429
    sim.state.inject("slow_first_byte", first_byte_ms=2000)
    stream = await mgw.open(request(sim, "hi"), Timeouts(first_byte=0.3, idle=5, total=30))
    with pytest.raises(UpstreamTimeout) as info:
        await collect(stream)
    assert info.value.kind == "first_byte"
    sim.state.inject("stall", stall_ms=3000)
    stream = await mgw.open(request(sim, "[[sim tokens=5]]"), Timeouts(first_byte=2, idle=0.3, total=30, heartbeat=0.1))
    got: list = []
    with pytest.raises(UpstreamTimeout) as info:
        async for batch in stream.events():
            got += batch
    assert info.value.kind == "idle" and any(isinstance(e, Heartbeat) for e in got)


@pytest.mark.parametrize(("fault", "code"), [("ended_mid", "upstream_truncated"),
                                             ("truncated", "")])
async def test_a_turn_that_stops_before_response_done_is_a_failure(sim, mgw, fault, code):
    # a clean close frame, or half an event then a dropped socket: never a complete answer
    sim.state.inject(fault)
    events = await collect(await mgw.open(request(sim, "[[sim tokens=8 think=0]]"), FAST))
    assert text_of(events) == "w0 w1 w2 "
    assert not any(isinstance(e, End) for e in events)
    assert isinstance(events[-1], UpstreamFailure)
    assert (events[-1].status, events[-1].code) == (502, code)


async def test_cut_connection_is_a_transport_error(sim, mgw):
    sim.state.inject("cut_mid")
    stream = await mgw.open(request(sim, "[[sim tokens=8]]"), FAST)
    with pytest.raises(TransportError):
        await collect(stream)


async def test_heartbeat_ping_and_aclose_cancels_upstream(sim, mgw):
    stream = await mgw.open(request(sim, "[[sim tokens=200 delay_ms=20]]"), FAST)
    seen = ""
    async with aclosing(stream.events()) as events:
        async for batch in events:
            seen += text_of(batch)
            if "w5 " in seen:
                break  # closing the generator closes the stream
    assert stream.closed
    started = time.monotonic()
    while sim.state.active_streams and time.monotonic() - started < 2:
        await asyncio.sleep(0.02)
    assert sim.state.active_streams == 0 and sim.state.cancelled_streams == 1
    kinds = [f["event"]["type"] for f in sim.state.mgw_sessions[-1].frames]
    assert "ping" in kinds


async def test_handshake_timeout(sim):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = UpstreamConfig(base_url=sim.url)
    rest = CurlTransport(cfg)
    transport = MgwTransport(cfg, rest, ws_url=f"ws://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await transport.open(request(sim, "hi"), Timeouts(connect=1, first_byte=0.5, idle=5))
        assert time.monotonic() - started < 2
    finally:
        server.close()
        await transport.aclose()
        await rest.aclose()


async def test_coalescing_gathers_tokens_and_never_holds_back_the_end(sim, mgw):
    window = Timeouts(first_byte=5, idle=5, total=30, heartbeat=5, coalesce=30.0)
    stream = await mgw.open(request(sim, "[[sim tokens=8 delay_ms=20]]"), window)
    start = time.monotonic()
    batches = await asyncio.wait_for(_batches(stream), 10)  # not the 30 s window
    assert time.monotonic() - start < 10
    texts = [text_of(b) for b in batches if text_of(b)]
    assert "".join(texts) == "".join(f"w{i} " for i in range(8))
    assert texts[0] == "w0 "  # the first token went on alone
    assert len(texts) == 2  # the rest gathered into one batch that the turn's end released
    assert isinstance(batches[-1][-1], End)


async def _batches(stream) -> list:
    return [batch async for batch in stream.events()]
