"""The account selector on its own: its `attempt`, `response` and `finish` hooks called on a
test flow, over a real in-memory pool."""
from __future__ import annotations

import pytest

from addons.accounts import BUSY_RETRY_AFTER_SEC, MAX_ACCOUNTS_PER_REQUEST, AccountSelector
from addons.errors import ApiError, upstream_error
from addons.flow import Attempt, Flow
from addons.services.catalogue import Catalogue
from addons.testflow import tflow
from state.pool import AccountPool
from state.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={})


def make_pool(*tokens: str, tier: str = "basic") -> AccountPool:
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool=tier)
    return pool


def new_flow(settings, model: str = "grok-4.20-fast") -> Flow:
    flow = tflow(model=model)
    flow.model = Catalogue(settings).resolve(model)
    return flow


async def next_try(selector: AccountSelector, flow: Flow) -> str:
    """What the pipeline does for every try: a fresh Attempt, then the attempt hooks."""
    flow.attempt = Attempt(flow.attempt.number + 1)
    await selector.attempt(flow)
    return flow.lease.token


async def test_one_lease_per_attempt_and_the_previous_one_released(settings):
    pool = make_pool("a", "b")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    first = await next_try(selector, flow)
    assert pool.get(first).inflight == 1 and pool.count_inflight() == 1
    second = await next_try(selector, flow)
    assert second != first
    assert pool.get(first).inflight == 0 and pool.get(second).inflight == 1
    selector.finish(flow)
    assert pool.count_inflight() == 0
    selector.finish(flow)  # a second release changes nothing
    assert pool.count_inflight() == 0
    assert flow.lease.token == second  # the last account used stays readable (usage ledger)


async def test_never_the_same_account_twice_and_429_when_none_is_left(settings):
    pool = make_pool("a", "b", "c")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    used = [await next_try(selector, flow) for _ in range(3)]
    assert sorted(used) == ["a", "b", "c"] and flow.tried == used
    with pytest.raises(ApiError) as info:
        await next_try(selector, flow)
    assert (info.value.status, info.value.code) == (429, "rate_limit_exceeded")
    assert pool.count_inflight() == 0  # the last lease was released before giving up


async def test_the_last_upstream_error_ends_the_flow_when_nothing_is_left(settings):
    pool = make_pool("a")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    await next_try(selector, flow)
    flow.last_error = upstream_error(503)
    with pytest.raises(ApiError) as info:
        await next_try(selector, flow)
    assert info.value is flow.last_error


async def test_a_model_no_pool_serves_is_429_without_a_lease(settings):
    pool = make_pool("a", tier="basic")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings, "grok-4.20-expert")  # super and heavy only
    with pytest.raises(ApiError) as info:
        await next_try(selector, flow)
    assert info.value.status == 429 and "grok-4.20-expert" in info.value.message
    assert pool.count_inflight() == 0 and flow.tried == []


async def test_a_pinned_account_is_tried_first_then_the_pin_is_cleared(settings):
    pool = make_pool("a", "b", "c")
    pool.get("c").health = 0.5  # left alone, selection would never pick it first
    selector = AccountSelector(pool, settings)
    plain = new_flow(settings)
    assert await next_try(selector, plain) != "c"
    selector.finish(plain)

    flow = new_flow(settings)
    flow.pinned_token = "c"
    assert await next_try(selector, flow) == "c"
    assert flow.pinned_token is None
    assert await next_try(selector, flow) != "c"  # the pin served once


async def test_a_pin_that_cannot_be_leased_falls_back_to_the_others(settings):
    pool = make_pool("a", "b")
    pool.disable("b")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    flow.pinned_token = "b"
    assert await next_try(selector, flow) == "a"
    assert flow.pinned_token is None


async def test_max_inflight_is_honoured(settings):
    settings.set("account.selection.max_inflight", 1)
    settings.set("account.selection.queue_timeout_sec", 0)  # no waiting: 429 at once
    pool = make_pool("a")
    selector = AccountSelector(pool, settings)
    busy = new_flow(settings)
    await next_try(selector, busy)
    waiting = new_flow(settings)
    with pytest.raises(ApiError) as info:
        await next_try(selector, waiting)
    assert info.value.status == 429 and info.value.retry_after == BUSY_RETRY_AFTER_SEC
    selector.finish(busy)
    assert await next_try(selector, new_flow(settings)) == "a"


async def test_max_inflight_spreads_concurrent_requests(settings):
    settings.set("account.selection.max_inflight", 2)
    settings.set("account.selection.queue_timeout_sec", 0)
    pool = make_pool("a", "b")
    selector = AccountSelector(pool, settings)
    flows = [new_flow(settings) for _ in range(4)]
    for flow in flows:
        await next_try(selector, flow)
    assert pool.get("a").inflight == pool.get("b").inflight == 2
    with pytest.raises(ApiError):
        await next_try(selector, new_flow(settings))


async def test_auto_falls_back_to_fast_when_auto_quota_is_exhausted(settings):
    pool = make_pool("s", tier="super")
    pool.get("s").window("auto").remaining = 0
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings, "grok-4.20-auto")
    assert await next_try(selector, flow) == "s"
    assert flow.attempt.mode == "fast" and flow.lease.mode == "fast"


async def test_auto_falls_back_to_expert_when_fast_is_gone_too(settings):
    pool = make_pool("s", tier="super")
    pool.get("s").window("auto").remaining = 0
    pool.get("s").window("fast").remaining = 0
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings, "grok-4.20-auto")
    await next_try(selector, flow)
    assert flow.attempt.mode == "expert"


async def test_auto_prefers_auto_quota_when_there_is_some(settings):
    pool = make_pool("s", tier="super")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings, "grok-4.20-auto")
    await next_try(selector, flow)
    assert flow.attempt.mode == "auto"


async def test_no_auto_fallback_when_the_feature_is_off(settings):
    settings.set("features.auto_chat_mode_fallback", False)
    pool = make_pool("s", tier="super")
    pool.get("s").window("auto").remaining = 0
    selector = AccountSelector(pool, settings)
    with pytest.raises(ApiError) as info:
        await next_try(selector, new_flow(settings, "grok-4.20-auto"))
    assert info.value.status == 429


async def test_at_most_ten_accounts_per_request(settings):
    pool = make_pool(*(f"acct-{i:02d}" for i in range(MAX_ACCOUNTS_PER_REQUEST + 3)))
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    for _ in range(MAX_ACCOUNTS_PER_REQUEST):
        await next_try(selector, flow)
    with pytest.raises(ApiError) as info:
        await next_try(selector, flow)
    assert info.value.status == 429
    assert MAX_ACCOUNTS_PER_REQUEST == 10 and len(flow.tried) == 10
    assert pool.count_inflight() == 0


async def test_a_success_is_counted_on_the_account_and_its_mode(settings):
    pool = make_pool("a")
    selector = AccountSelector(pool, settings)
    flow = new_flow(settings)
    await next_try(selector, flow)
    before = pool.get("a").window("fast").remaining
    selector.response(flow)
    acc = pool.get("a")
    assert acc.usage_use_count == 1 and acc.window("fast").remaining == before - 1


async def test_when_nothing_is_selectable_one_on_demand_refresh_runs_then_selection_again(
        settings):
    pool = make_pool("a")
    pool.get("a").window("fast").remaining = 0

    class Refresher:
        calls = 0

        async def on_demand(self):
            Refresher.calls += 1
            pool.apply_quota("a", "fast", 5, 30, 86400)
            return True

    selector = AccountSelector(pool, settings)
    selector.bind_refresher(Refresher())
    flow = new_flow(settings)
    assert await next_try(selector, flow) == "a"
    assert Refresher.calls == 1
    # once per request: the next try with nothing left is a 429 without another refresh
    with pytest.raises(ApiError):
        await next_try(selector, flow)
    assert Refresher.calls == 1


async def test_random_strategy_ignores_an_empty_quota(settings):
    settings.set("account.refresh.enabled", False)
    pool = make_pool("a")
    pool.get("a").window("fast").remaining = 0
    selector = AccountSelector(pool, settings)
    assert await next_try(selector, new_flow(settings)) == "a"
