"""A client's disconnect cancels the hot route's handler, watched without a task per request
when `receive` is the server's queue (Hypercorn's), and by a task for any other `receive`."""
from __future__ import annotations

import asyncio

import orjson

from addons.events import End, TextDelta
from addons.upstream.mock import MockResponse, MockTransport
from quart_app.disconnect import DisconnectWatch
from tests.quart_app.test_fastpath_routes import CHAT, fast_path, finished, scope


async def _handler_until_cancelled(started: asyncio.Event) -> str:
    started.set()
    try:
        await asyncio.Future()
    except asyncio.CancelledError:
        return "cancelled"
    return "not cancelled"


async def test_a_disconnect_put_on_the_servers_queue_cancels_the_request_without_a_task() -> None:
    queue: asyncio.Queue[dict] = asyncio.Queue()
    started = asyncio.Event()
    tasks_before = 0

    async def request() -> str:
        nonlocal tasks_before
        tasks_before = len(asyncio.all_tasks())
        watch = DisconnectWatch(queue.get, asyncio.current_task())  # type: ignore[arg-type]
        assert len(asyncio.all_tasks()) == tasks_before  # no watcher task
        try:
            return await _handler_until_cancelled(started)
        finally:
            assert watch.gone
            watch.close()

    task = asyncio.create_task(request())
    await started.wait()
    await queue.put({"type": "http.disconnect"})
    assert await asyncio.wait_for(task, 1) == "cancelled"


async def test_a_finished_request_leaves_the_queue_as_it_found_it() -> None:
    queue: asyncio.Queue[dict] = asyncio.Queue()
    watch = DisconnectWatch(queue.get, asyncio.current_task())  # type: ignore[arg-type]
    watch.close()
    assert not queue._getters  # type: ignore[attr-defined]  # the guard on asyncio's private list
    await queue.put({"type": "http.disconnect"})
    assert (await asyncio.wait_for(queue.get(), 1))["type"] == "http.disconnect"
    assert not watch.gone


async def test_a_disconnect_already_queued_cancels_at_once() -> None:
    queue: asyncio.Queue[dict] = asyncio.Queue()
    queue.put_nowait({"type": "http.disconnect"})
    started = asyncio.Event()

    async def request() -> str:
        watch = DisconnectWatch(queue.get, asyncio.current_task())  # type: ignore[arg-type]
        assert watch.gone
        try:
            return await _handler_until_cancelled(started)
        finally:
            watch.close()

    assert await asyncio.wait_for(asyncio.create_task(request()), 1) == "cancelled"


async def test_any_other_receive_is_watched_by_a_task() -> None:
    left = asyncio.Event()

    async def receive() -> dict:
        await left.wait()
        return {"type": "http.disconnect"}

    started = asyncio.Event()

    async def request() -> str:
        watch = DisconnectWatch(receive, asyncio.current_task())  # type: ignore[arg-type]
        try:
            return await _handler_until_cancelled(started)
        finally:
            watch.close()

    task = asyncio.create_task(request())
    await started.wait()
    left.set()
    assert await asyncio.wait_for(task, 1) == "cancelled"


async def test_through_the_policy_layer_a_client_leaving_mid_stream_frees_the_account(tmp_path) -> None:
    # the served stack: HttpPolicy reads the body and hands the fast path the server's queue
    answer = MockResponse(200, [[TextDelta("one ")], [TextDelta("two ")], [End()]])
    opened = asyncio.Event()
    release = asyncio.Event()

    async def slow(request):  # the upstream answers only once the client has gone
        opened.set()
        await release.wait()
        return answer

    app, pool, _ = fast_path(tmp_path, MockTransport(slow), "a")
    queue: asyncio.Queue[dict] = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": orjson.dumps({**orjson.loads(CHAT), "stream": True}),
                      "more_body": False})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    task = asyncio.ensure_future(app(scope(), queue.get, send))
    await asyncio.wait_for(opened.wait(), 5)
    assert pool.count_inflight() == 1
    await queue.put({"type": "http.disconnect"})
    await finished(task)
    assert pool.count_inflight() == 0 and sent == []
