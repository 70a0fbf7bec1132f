"""The pooled curl handles behind CurlTransport: reuse after aborted transfers, few handles
serving many requests, max_clients, method/option changes between requests on one handle."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from addons.events import End, TextDelta
from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import Timeouts, UpstreamTimeout
from addons.upstream.config import UpstreamConfig
from addons.upstream.transport import CurlTransport
from tests.addons.upstream.test_transport import Server, collect, req, server  # noqa: F401


@pytest.fixture
async def single(server: Server) -> AsyncIterator[CurlTransport]:  # noqa: F811
    tr = CurlTransport(UpstreamConfig(base_url=server.url), max_clients=1)
    yield tr
    await tr.aclose()


def handles(tr: CurlTransport) -> list[Any]:
    assert tr._pool is not None
    return list(tr._pool._idle)


async def test_handle_reused_after_aborted_transfers(
        server: Server, single: CurlTransport) -> None:  # noqa: F811
    # one handle: every request below runs on it, each after a different kind of abort
    stream = await single.open(req(server, "short"), Timeouts())
    assert isinstance((await collect(stream))[-1], End)
    first = handles(single)
    assert len(first) == 1

    for _ in range(3):
        # aclose mid-body
        stream = await single.open(req(server, "forever"), Timeouts())
        async for batch in stream.events():
            if any(isinstance(ev, TextDelta) for ev in batch):
                break
        await stream.aclose()
        assert stream.closed and single.free_clients() == 1
        # first-byte timeout, before and after the headers
        for name in ("stall-headers", "headers-only"):
            with pytest.raises(UpstreamTimeout):
                await single.open(req(server, name), Timeouts(first_byte=0.2))
            assert single.free_clients() == 1
        # a cancelled open
        task = asyncio.create_task(single.open(req(server, "stall-headers"), Timeouts()))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert single.free_clients() == 1
        # the next transfer on the same handle is clean and complete
        stream = await single.open(req(server, "plain", {"n": 1}), Timeouts())
        assert stream.status == 200
        events = await collect(stream)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "2 + 2 equals **4**."
        assert json.loads(server.seen[-1]["body"]) == {"n": 1}
    assert handles(single) == first


async def test_many_sequential_requests_on_few_handles(server: Server) -> None:  # noqa: F811
    tr = CurlTransport(UpstreamConfig(base_url=server.url), max_clients=2)
    try:
        async def one(i: int) -> None:
            stream = await tr.open(req(server, "short", {"i": i}), Timeouts())
            assert await collect(stream) == [TextDelta("xx"), End()]

        for i in range(40):
            await one(i)
        await asyncio.gather(*(one(i) for i in range(40, 80)))  # 8x more callers than handles
        assert tr.free_clients() == 2
        assert len(handles(tr)) <= 2
        bodies = sorted(json.loads(s["body"])["i"] for s in server.seen)
        assert bodies == list(range(80))
        # completed HTTP/1.1 transfers leave their connections for the next request
        assert len({s["peer"] for s in server.seen[:40]}) <= 2
    finally:
        await tr.aclose()


async def test_max_clients_is_a_hard_limit(server: Server) -> None:  # noqa: F811
    tr = CurlTransport(UpstreamConfig(base_url=server.url), max_clients=2)
    try:
        held = [await tr.open(req(server, "stall-body"), Timeouts()) for _ in range(2)]
        assert tr.free_clients() == 0
        with pytest.raises(UpstreamTimeout) as info:  # waits for a handle within first_byte
            await tr.open(req(server, "short"), Timeouts(first_byte=0.2))
        assert info.value.kind == "first_byte" and len(server.seen) == 2
        waiting = asyncio.create_task(tr.open(req(server, "short"), Timeouts()))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await held[0].aclose()
        stream = await asyncio.wait_for(waiting, 2)
        assert isinstance((await collect(stream))[-1], End)
        await held[1].aclose()
        assert tr.free_clients() == 2
    finally:
        await tr.aclose()


async def test_methods_and_options_change_between_requests(
        server: Server, single: CurlTransport) -> None:  # noqa: F811
    url = server.url + "/rest/rate-limits"
    post = req(server, "rest/rate-limits", {"a": 1})
    get = UpstreamRequest("GET", url, {"Accept": "*/*"})
    for call in (post, get, post, get):
        status, headers, body = await single.request(call, 5.0)
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert json.loads(body)["remainingQueries"] == 48
    stream = await single.open(req(server, "short"), Timeouts())
    assert isinstance((await collect(stream))[-1], End)
    status, _, _ = await single.request(get, 5.0)
    assert status == 200
    seen = [(s["method"], s["body"]) for s in server.seen]
    assert seen == [("POST", b'{"a":1}'), ("GET", b""), ("POST", b'{"a":1}'), ("GET", b""),
                    ("POST", b'{"message":"hi"}'), ("GET", b"")]
    assert "Cookie" not in server.seen[1]["headers"]  # nothing kept from an earlier request


async def test_request_total_timeout_frees_handle(server: Server, single: CurlTransport) -> None:  # noqa: F811
    with pytest.raises(UpstreamTimeout) as info:
        await single.request(req(server, "stall-headers"), 0.3)
    assert info.value.kind == "total" and single.free_clients() == 1
    status, _, _ = await single.request(req(server, "rest/rate-limits"), 5.0)
    assert status == 200


async def test_poisoned_handle_is_discarded(server: Server, single: CurlTransport) -> None:  # noqa: F811
    stream = await single.open(req(server, "short"), Timeouts())
    await collect(stream)
    (handle,) = handles(single)
    handle._wctx.exception = RuntimeError("boom")  # as if a write callback had raised
    assert single._pool is not None
    single._pool._idle.clear()
    single._pool.in_use += 1
    single._pool.put(handle, running=False)
    assert handles(single) == [] and single.free_clients() == 1
    stream = await single.open(req(server, "short"), Timeouts())
    assert isinstance((await collect(stream))[-1], End)
