"""Waiting instead of refusing: a request that finds every account able to serve it at its
in-flight cap waits, first come first served, for a lease to end."""
from __future__ import annotations

import asyncio
import time

import pytest

from addons.accounts import BUSY_RETRY_AFTER_SEC, AccountSelector
from addons.errors import ApiError
from tests.addons.test_accounts import make_pool, new_flow, next_try, settings  # noqa: F401


def busy_selector(settings, *tokens: str, timeout: float = 5.0, **kw) -> AccountSelector:
    settings.set("account.selection.max_inflight", 1)
    settings.set("account.selection.queue_timeout_sec", timeout)
    return AccountSelector(make_pool(*tokens, **kw), settings)


async def until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_request_waits_for_a_busy_account_and_gets_it_when_the_lease_ends(settings):
    selector = busy_selector(settings, "a")
    holder = new_flow(settings)
    await next_try(selector, holder)
    waiting = asyncio.ensure_future(next_try(selector, new_flow(settings)))
    await until(lambda: selector.queued == 1)
    assert not waiting.done()
    selector.finish(holder)  # the lease ends: the waiter is served at once
    assert await asyncio.wait_for(waiting, 1) == "a"
    assert selector.queued == 0 and selector.pool.get("a").inflight == 1


async def test_waiters_are_served_in_arrival_order_and_newcomers_queue_behind(settings):
    selector = busy_selector(settings, "a")
    holder = new_flow(settings)
    await next_try(selector, holder)
    flows = [new_flow(settings) for _ in range(3)]
    tasks = []
    for flow in flows:
        tasks.append(asyncio.ensure_future(next_try(selector, flow)))
        await until(lambda: selector.queued == len(tasks))
    current = holder
    for flow, task in zip(flows, tasks):
        selector.finish(current)  # one lease ends: exactly the longest waiter gets it
        await asyncio.wait_for(asyncio.shield(task), 1)
        assert flow.lease is not None and not flow.lease.released
        assert sum(t.done() for t in tasks) == flows.index(flow) + 1
        current = flow
    assert selector.queued == 0


async def test_a_waiter_gives_up_after_the_queue_timeout_with_a_429_and_retry_after(settings):
    selector = busy_selector(settings, "a", timeout=0.2)
    await next_try(selector, new_flow(settings))
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        await next_try(selector, new_flow(settings))
    assert 0.15 < time.monotonic() - started < 1.5
    assert info.value.status == 429 and info.value.code == "rate_limit_exceeded"
    assert info.value.retry_after == BUSY_RETRY_AFTER_SEC
    assert "busy" in info.value.message and selector.queued == 0


async def test_a_waiter_whose_client_leaves_is_out_of_the_queue_at_once(settings):
    selector = busy_selector(settings, "a")
    holder = new_flow(settings)
    await next_try(selector, holder)
    gone, stays = new_flow(settings), new_flow(settings)
    first = asyncio.ensure_future(next_try(selector, gone))
    await until(lambda: selector.queued == 1)
    second = asyncio.ensure_future(next_try(selector, stays))
    await until(lambda: selector.queued == 2)
    first.cancel()  # what the server does when the client disconnects
    await asyncio.wait({first})
    assert selector.queued == 1 and gone.lease is None
    selector.finish(holder)
    assert await asyncio.wait_for(second, 1) == "a"  # the one behind it is served


async def test_an_account_without_quota_is_not_waited_for(settings):
    selector = busy_selector(settings, "a", "b")
    pool = selector.pool
    reset = time.time() + 120
    pool.apply_quota("b", "fast", 0, 30, 86400)  # b: no quota left until its window resets
    pool.get("b").quota["fast"].reset_at = int(reset * 1000)
    pool.refresh(pool.get("b"))
    pool.disable("a")
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        await next_try(selector, new_flow(settings))
    assert time.monotonic() - started < 0.5 and selector.queued == 0
    assert info.value.status == 429 and "No available accounts" in info.value.message
    assert 110 <= info.value.retry_after <= 121  # when b's window resets


async def test_a_busy_account_of_another_tier_does_not_make_a_request_wait(settings):
    selector = busy_selector(settings, "s", tier="super")
    await next_try(selector, new_flow(settings, "grok-4.20-auto"))
    started = time.monotonic()
    with pytest.raises(ApiError) as info:  # a heavy-only model: no account to wait for
        await next_try(selector, new_flow(settings, "grok-4.20-0309-heavy"))
    assert info.value.status == 429 and time.monotonic() - started < 0.5


async def test_when_the_busy_account_leaves_selection_nobody_waits_for_it(settings):
    """A 429 cools the mode of the one busy account (an expiry or a disable would do the
    same): no lease ending can serve the waiters any more, so they, and a request that
    arrives behind them, get the pool's 429 at once instead of after the queue timeout."""
    selector = busy_selector(settings, "a", timeout=5.0)
    holder = new_flow(settings)
    await next_try(selector, holder)
    waiting = asyncio.ensure_future(next_try(selector, new_flow(settings)))
    await until(lambda: selector.queued == 1)
    started = time.monotonic()
    selector.pool.on_rate_limited(holder.lease)  # the holder's try got a 429
    newcomer = asyncio.ensure_future(next_try(selector, new_flow(settings)))
    for task in (waiting, newcomer):
        with pytest.raises(ApiError) as info:
            await asyncio.wait_for(task, 2)
        assert info.value.status == 429 and "No available accounts" in info.value.message
        assert 50 <= info.value.retry_after <= 61  # when a's cooldown ends
    assert time.monotonic() - started < 1.0 and selector.queued == 0
