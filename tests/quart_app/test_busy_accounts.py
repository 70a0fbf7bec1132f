"""A request that finds every account busy, as a client sees it through the fast path: it waits
for a lease to end, or gets a 429 with Retry-After in its dialect's envelope, and a client that
leaves while waiting is out of the queue at once."""
from __future__ import annotations

import asyncio

import orjson

from addons.accounts import BUSY_RETRY_AFTER_SEC, AccountSelector
from addons.events import End, TextDelta
from addons.upstream.mock import MockResponse, MockTransport
from tests.quart_app.test_fastpath_routes import CHAT, Client, fast_path, finished, scope


def one_busy_account(tmp_path, timeout: float):
    """One account, one request at a time; the first upstream call holds until `free`."""
    (tmp_path / "config.toml").write_text(
        f"[account.selection]\nmax_inflight = 1\nqueue_timeout_sec = {timeout}\n")
    opened, free = asyncio.Event(), asyncio.Event()

    async def upstream(_request):
        if not opened.is_set():
            opened.set()
            await free.wait()
        return MockResponse(200, [[TextDelta("hi")], [End()]])

    app, pool, _ = fast_path(tmp_path, MockTransport(upstream), "a")
    selector = app.app.services.pipeline.chain.get(AccountSelector)
    return app, pool, selector, opened, free


async def until(condition) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_a_second_request_waits_for_the_busy_account_and_is_answered(tmp_path):
    app, pool, selector, opened, free = one_busy_account(tmp_path, timeout=5)
    first, second = Client([CHAT]), Client([CHAT])
    one = asyncio.ensure_future(app(scope(), first.receive, first.send))
    await asyncio.wait_for(opened.wait(), 5)
    two = asyncio.ensure_future(app(scope(), second.receive, second.send))
    await until(lambda: selector.queued == 1)
    free.set()
    await finished(one)
    await finished(two)
    assert first.status == second.status == 200
    assert pool.count_inflight() == 0 and pool.get("a").usage_use_count == 2


async def test_a_request_that_waited_in_vain_gets_429_with_retry_after(tmp_path):
    app, pool, selector, opened, free = one_busy_account(tmp_path, timeout=0.2)
    first = Client([CHAT])
    one = asyncio.ensure_future(app(scope(), first.receive, first.send))
    await asyncio.wait_for(opened.wait(), 5)
    for path in ("/v1/chat/completions", "/v1/messages"):
        body = CHAT if path != "/v1/messages" else orjson.dumps(
            {**orjson.loads(CHAT), "max_tokens": 50})
        late = Client([body])
        await finished(asyncio.ensure_future(app(scope(path), late.receive, late.send)))
        assert late.status == 429
        start = next(m for m in late.sent if m["type"] == "http.response.start")
        assert (b"retry-after", str(BUSY_RETRY_AFTER_SEC).encode()) in start["headers"]
        error = orjson.loads(late.body)
        assert error["error"]["code"] == "rate_limit_exceeded"
        assert (error.get("type") == "error") == (path == "/v1/messages")  # its own envelope
    free.set()
    await finished(one)
    assert selector.queued == 0 and pool.count_inflight() == 0


async def test_a_client_that_leaves_while_queued_leaves_the_queue_at_once(tmp_path):
    app, pool, selector, opened, free = one_busy_account(tmp_path, timeout=30)
    first, gone = Client([CHAT]), Client([CHAT])
    one = asyncio.ensure_future(app(scope(), first.receive, first.send))
    await asyncio.wait_for(opened.wait(), 5)
    two = asyncio.ensure_future(app(scope(), gone.receive, gone.send))
    await until(lambda: selector.queued == 1)
    gone.leave.set()
    await finished(two)
    assert selector.queued == 0 and gone.sent == []
    free.set()
    await finished(one)
    assert pool.count_inflight() == 0 and pool.get("a").usage_use_count == 1
