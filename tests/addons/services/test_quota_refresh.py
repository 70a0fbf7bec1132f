"""The quota refresher on a fake short-call transport: tier inference, pool moves, estimates
on failure, expiry on a marker, the probe after a chat 429 deciding its cooldown, throttling,
coalescing, the concurrency bound and the leader lock. No network, no database."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from addons import build_chain
from addons.accounts import AccountSelector
from addons.services.catalogue import Catalogue
from addons.errors import ApiError
from addons.events import UpstreamFailure
from addons.flow import Flow
from addons.upstream.mock import MockResponse, MockTransport, sso_token
from addons.upstream.wire import UpstreamRequest
from addons.services.quota_refresh import QuotaRefresher, infer_tier
from addons.retry import Retry
from addons.upstream.base import TransportError
from addons.testflow import tflow
from state.account import SOURCE_DEFAULT, SOURCE_ESTIMATED, SOURCE_REAL, TIER_DEFAULTS, now_ms
from state.pool import AccountPool
from state.settings import Settings

BLOCKED = b'{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}'


class FakeTransport(MockTransport):
    """Answers `/rest/rate-limits` from `tiers` (token → tier) with the tier defaults, or with
    `answers[(token, mode)]`: a (status, body) pair or an exception to raise. `gate`, when
    set, holds every call until it is opened."""

    def __init__(self, tiers: dict[str, str] | None = None) -> None:
        super().__init__(self.rate_limits)
        self.tiers = dict(tiers or {})
        self.answers: dict[tuple[str, str], object] = {}
        self.calls: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.active = 0
        self.peak = 0

    async def rate_limits(self, request: UpstreamRequest) -> MockResponse:
        token = sso_token(request)
        mode = request.json["modelName"]
        self.calls.append((token, mode))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
            answer = self.answers.get((token, mode))
            if isinstance(answer, BaseException):
                raise answer
            if answer is not None:
                status, body = answer  # type: ignore[misc]
                return MockResponse(status, body=body)
            quotas = {**TIER_DEFAULTS[self.tiers.get(token, "basic")]}
            if self.tiers.get(token, "basic") == "basic":
                quotas["auto"] = (20, 7200)  # what grok.com answers a basic account
            total, window = quotas.get(mode, (0, 7200))
            return MockResponse.json({"remainingQueries": total - 1, "totalQueries": total,
                                      "windowSizeSeconds": window})
        finally:
            self.active -= 1

    def modes_of(self, token: str) -> list[str]:
        return [m for t, m in self.calls if t == token]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_settings(tmp_path: Path, **env: str) -> Settings:
    environ = {"GROK_" + k.upper(): v for k, v in env.items()}
    return Settings(tmp_path / "config.toml", environ=environ)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def make(settings: Settings, tiers: dict[str, str], pools: dict[str, str] | None = None, **kw):
    pool = AccountPool(None)
    for token in tiers:
        pool.add(token, pool=(pools or {}).get(token, "basic"))
    transport = FakeTransport(tiers)
    return pool, transport, QuotaRefresher(pool, transport, settings, **kw)


@pytest.mark.parametrize(("total", "tier"), [(20, "basic"), (7, "basic"), (50, "super"),
                                             (150, "heavy"), (60, None), (None, None)])
def test_infer_tier(total, tier) -> None:
    assert infer_tier(total) == tier


async def test_full_refresh_infers_the_tier_and_moves_the_account(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "super"})
    result = await refresher.refresh_account("a")
    acc = pool.get("a")
    assert result.ok and result.moved == ("basic", "super") and acc.pool == "super"
    assert transport.modes_of("a")[0] == "auto" and transport.modes_of("a").count("auto") == 1
    assert sorted(transport.modes_of("a")) == sorted(TIER_DEFAULTS["super"])
    assert {m: (w.remaining, w.total, w.source) for m, w in acc.quota.items()} == {
        m: (t - 1, t, SOURCE_REAL) for m, (t, _) in TIER_DEFAULTS["super"].items()}
    assert pool.select(["super"], "expert") is not None  # selectable in its new pool


async def test_basic_stays_basic_without_an_auto_window(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "basic"})
    result = await refresher.refresh_account("a")
    acc = pool.get("a")
    assert result.ok and result.moved is None and acc.pool == "basic"
    assert set(acc.quota) == {"fast"} and acc.quota["fast"].remaining == 29
    assert sorted(transport.modes_of("a")) == ["auto", "fast"]


async def test_heavy_account_found_in_super_moves_down_and_unknown_totals_keep_the_pool(settings) -> None:
    pool, transport, refresher = make(settings, {"h": "super", "x": "super"},
                                      {"h": "heavy", "x": "super"})
    transport.answers[("x", "auto")] = (200, b'{"remainingQueries":3,"totalQueries":60}')
    await refresher.refresh_many(["h", "x"])
    assert pool.get("h").pool == "super" and "heavy" not in pool.get("h").quota
    assert pool.get("x").pool == "super"


@pytest.mark.parametrize("failure", [TransportError("connection refused"), (503, b"busy"),
                                     (403, b'{"error":"Request rejected by anti-bot rules."}')])
async def test_failed_probe_keeps_an_estimate_never_zero(settings, failure) -> None:
    pool, transport, refresher = make(settings, {"a": "super"}, {"a": "super"})
    await refresher.refresh_account("a")
    acc = pool.get("a")
    for _ in range(3):  # calls since the sync take one each off the local count
        lease = pool.select(["super"], "fast")
        pool.on_success(lease)
        pool.release(lease)
    assert acc.quota["fast"].remaining == 139 - 3
    # an expired default window and an expired real one
    acc.quota["expert"].reset_at = now_ms() - 1
    acc.quota["auto"].remaining, acc.quota["auto"].reset_at = 0, now_ms() - 1
    acc.quota["auto"].source = SOURCE_DEFAULT
    for mode in TIER_DEFAULTS["super"]:
        transport.answers[("a", mode)] = failure
    result = await refresher.refresh_account("a", ["fast", "expert", "auto"])
    assert not result.ok and sorted(result.estimated) == ["auto", "expert", "fast"]
    assert acc.status == "active" and acc.pool == "super"
    fast, expert, auto = acc.quota["fast"], acc.quota["expert"], acc.quota["auto"]
    assert (fast.remaining, fast.source) == (136, SOURCE_ESTIMATED)
    assert (expert.remaining, expert.reset_at) == (50, None)  # refilled to its total
    assert (auto.remaining, auto.total, auto.source) == (50, 50, SOURCE_DEFAULT)  # tier default
    # a full refresh that cannot reach grok.com keeps the pool
    transport.answers[("a", "auto")] = TransportError("down")
    result = await refresher.refresh_account("a")
    assert acc.pool == "super" and all(w.remaining > 0 for w in acc.quota.values())


async def test_marker_on_any_probe_expires_the_account(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "super", "b": "super"},
                                      {"a": "super", "b": "super"})
    transport.answers[("a", "expert")] = (403, BLOCKED)
    transport.answers[("b", "auto")] = (401, b'{"error":{"message":"invalid-credentials"}}')
    results = await refresher.refresh_many(["a", "b"])
    assert [r.expired for r in results] == ["blocked-user", "invalid-credentials"]
    for token in ("a", "b"):
        acc = pool.get(token)
        assert acc.status == "expired" and acc.ext["expired_reason"] in ("blocked-user", "invalid-credentials")
    assert pool.select(["super"], "fast") is None
    # an expired account is not probed again
    transport.calls.clear()
    assert not (await refresher.refresh_account("a")).ok and transport.calls == []


async def test_a_chat_429_cooling_outlives_a_probe_showing_quota(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "super", "b": "super"},
                                      {"a": "super", "b": "super"})
    lease = pool.select(["super"], "fast", only="a")
    pool.on_rate_limited(lease)
    pool.release(lease)
    # b cools account-wide, as earlier versions did after consecutive failures: a refresh
    # with quota ends that cooling
    pool.get("b").cool_down(now_ms() + 900_000, "consecutive_failures")
    await refresher.refresh_many(["a", "b"])
    a, b = pool.get("a"), pool.get("b")
    assert a.quota["fast"].remaining > 0 and a.quota["fast"].source == SOURCE_REAL
    assert pool.mode_cooling("a", "fast")  # the chat's 429 wins over a probe showing quota
    assert pool.select(["super"], "expert", exclude={"b"}).token == "a"  # other modes serve
    assert b.status == "active"
    assert pool.select(["super"], "fast", exclude={"b"}) is None
    # once the short cooldown is over, time alone brings the mode back
    future = (now_ms() + 61_000) / 1000
    assert pool.select(["super"], "fast", exclude={"b"}, now=future).token == "a"


@pytest.mark.parametrize(("answer", "cools_for"), [
    ({"remainingQueries": 0, "totalQueries": 140, "windowSizeSeconds": 7200}, 7200),
    ({"remainingQueries": 0, "totalQueries": 140, "windowSizeSeconds": 7200,
      "waitTimeSeconds": 1800}, 1800),
    ({"remainingQueries": 9, "totalQueries": 140, "windowSizeSeconds": 7200}, 60),
], ids=["exhausted", "wait", "quota-left"])
async def test_the_probe_after_a_chat_429_decides_how_long_the_mode_cools(
        settings, answer, cools_for) -> None:
    pool, transport, refresher = make(settings, {"a": "super"}, {"a": "super"})
    transport.answers[("a", "fast")] = (200, orjson.dumps(answer))
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    chain.get(Retry).bind_refresher(refresher)
    flow = _flow()
    await chain.request(flow)
    await chain.attempt(flow)
    flow.attempt.failure = UpstreamFailure(429, "Too many requests", '{"error":{"code":8}}')
    started = now_ms()
    await chain.responseheaders(flow)
    await asyncio.sleep(0.05)
    assert transport.calls == [("a", "fast")]  # that account and mode, nothing else
    until = pool.get("a").mode_cooldown("fast")["until"]
    assert abs((until - started) / 1000 - cools_for) < 3
    assert pool.get("a").status == "active"
    await refresher.stop()


async def test_on_demand_is_throttled_and_joined(tmp_path) -> None:
    settings = make_settings(tmp_path, account_refresh_on_demand_min_interval_sec="300")
    clock = Clock()
    pool, transport, refresher = make(settings, {"a": "basic", "b": "basic"}, clock=clock)
    transport.gate = asyncio.Event()
    first = asyncio.create_task(refresher.on_demand())
    second = asyncio.create_task(refresher.on_demand())  # joins the running one
    await asyncio.sleep(0.01)
    transport.gate.set()
    assert await first and await second
    assert len(transport.calls) == 4  # two accounts × (auto, fast), once
    clock.now += 299
    assert await refresher.on_demand() is False and len(transport.calls) == 4
    clock.now += 2
    assert await refresher.on_demand() is True and len(transport.calls) == 8


async def test_random_strategy_never_probes_on_requests(tmp_path) -> None:
    settings = make_settings(tmp_path, account_refresh_enabled="false")
    pool, transport, refresher = make(settings, {"a": "basic"})
    refresher.request_after_call("a", "fast")
    assert await refresher.on_demand() is False
    await asyncio.sleep(0.01)
    assert transport.calls == []
    assert (await refresher.refresh_account("a")).ok  # a manual refresh still works


async def test_after_call_refreshes_are_coalesced_per_token_and_mode(tmp_path) -> None:
    settings = make_settings(tmp_path, account__refresh__after_call_min_interval_sec="0")
    pool, transport, refresher = make(settings, {"a": "super", "b": "super"},
                                      {"a": "super", "b": "super"})
    await refresher.refresh_many(["a", "b"])  # synced: later refreshes are single-mode
    transport.calls.clear()
    transport.gate = asyncio.Event()
    for _ in range(3):  # asked before the probe went out: that one probe answers them all
        refresher.request_after_call("a", "fast")
    await asyncio.sleep(0.01)  # the probe is now in flight (held at the gate)
    for _ in range(10):
        refresher.request_after_call("a", "fast")
    refresher.request_after_call("a", "expert")
    refresher.request_after_call("b", "fast")
    refresher.request_after_call("a", "imagine")  # not a rate-limited mode: ignored
    await asyncio.sleep(0.01)
    transport.gate.set()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not refresher._pending:
            break
    # one in flight plus one queued behind it, however many calls asked
    assert sorted(transport.calls) == [("a", "expert"), ("a", "fast"), ("a", "fast"), ("b", "fast")]
    assert pool.get("a").quota["fast"].source == SOURCE_REAL


async def test_a_busy_account_is_probed_at_most_once_per_interval(tmp_path) -> None:
    settings = make_settings(tmp_path, account__refresh__after_call_min_interval_sec="1")
    pool, transport, refresher = make(settings, {"a": "super"}, {"a": "super"})
    await refresher.refresh_many(["a"])
    transport.calls.clear()
    pool.get("a").quota["fast"].remaining = 5  # as if calls had been counted locally
    for _ in range(10):  # a burst of calls over ~0.1 s, well inside the interval
        refresher.request_after_call("a", "fast")
        await asyncio.sleep(0.01)
    assert transport.calls == [("a", "fast")]  # the first call probed at once, no more yet
    for _ in range(300):
        await asyncio.sleep(0.01)
        if not refresher._pending:
            break
    # the burst's last calls are covered by one trailing probe after the interval
    assert transport.calls == [("a", "fast"), ("a", "fast")]
    assert pool.get("a").quota["fast"].remaining == TIER_DEFAULTS["super"]["fast"][0] - 1


async def test_never_synced_account_gets_a_full_refresh_after_its_first_call(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "super"})  # imported as basic
    refresher.request_after_call("a", "fast")
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not refresher._pending:
            break
    assert pool.get("a").pool == "super"


async def test_refresh_many_respects_usage_concurrency(tmp_path) -> None:
    settings = make_settings(tmp_path, account_refresh_usage_concurrency="3")
    tokens = {f"t{i}": "super" for i in range(20)}
    pool, transport, refresher = make(settings, tokens, dict(tokens))
    seen: list[tuple[int, int]] = []
    results = await refresher.refresh_many(list(tokens), lambda d, t, r: seen.append((d, t)))
    assert all(r.ok for r in results) and [r.token for r in results] == list(tokens)
    assert transport.peak == 3 and len(transport.calls) == 20 * 4
    assert seen == [(i, 20) for i in range(1, 21)]


async def test_one_leader_per_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("addons.services.quota_refresh.LEADER_RETRY_SEC", 0.02)
    settings = make_settings(tmp_path)
    pool, transport, first = make(settings, {"a": "basic"}, data_dir=tmp_path, tick=0.02)
    second = QuotaRefresher(pool, transport, settings, data_dir=tmp_path, tick=0.02)
    first.start()
    second.start()
    try:
        assert first.is_leader and not second.is_leader
        assert (tmp_path / ".scheduler.lock").exists()
        for _ in range(100):  # the leader's basic loop refreshes the never-synced account
            await asyncio.sleep(0.01)
            if pool.get("a").last_sync_at is not None:
                break
        assert sorted(transport.calls) == [("a", "auto"), ("a", "fast")]
        assert pool.get("a").quota["fast"].source == SOURCE_REAL
        await asyncio.sleep(0.1)
        assert len(transport.calls) == 2  # synced: not due again; the follower runs nothing
        await first.stop()
        for _ in range(100):  # the follower takes over once the leader is gone
            await asyncio.sleep(0.01)
            if second.is_leader:
                break
        assert second.is_leader
    finally:
        await first.stop()
        await second.stop()


def test_scheduler_picks_due_accounts_oldest_first(tmp_path) -> None:
    settings = make_settings(tmp_path, account_refresh_super_interval_sec="60")
    pool, transport, refresher = make(
        settings, {"new": "super", "old": "super", "fresh": "super", "gone": "super",
                   "dead": "super", "other": "basic"},
        {"new": "super", "old": "super", "fresh": "super", "gone": "super", "dead": "super"})
    pool.get("old").last_sync_at = now_ms() - 61_000
    pool.get("fresh").last_sync_at = now_ms() - 30_000
    pool.delete("gone")
    pool.on_invalid_credentials("dead", "blocked-user")
    assert refresher.due_tokens("super") == ["new", "old"]
    assert refresher.due_tokens("basic") == ["other"]


def _flow() -> Flow:
    return tflow(stream=False)


async def test_selection_runs_one_on_demand_refresh_before_a_429(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "basic"})
    pool.get("a").quota["fast"].remaining = 0  # locally exhausted; grok.com says 29 left
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    selector = chain.get(AccountSelector)
    flow = _flow()
    await chain.request(flow)
    with pytest.raises(ApiError) as info:  # without a refresher: 429 at once
        await selector.attempt(flow)
    assert info.value.status == 429 and transport.calls == []
    selector.bind_refresher(refresher)
    flow = _flow()
    await chain.request(flow)
    await selector.attempt(flow)
    assert flow.lease is not None and flow.lease.token == "a"
    # the next starved request is throttled: no second refresh, a 429
    pool.get("a").quota["fast"].remaining = 0
    pool.release(flow.lease)
    flow = _flow()
    await chain.request(flow)
    with pytest.raises(ApiError):
        await selector.attempt(flow)
    assert len(transport.calls) == 2


async def test_success_requests_a_refresh_of_the_account(settings) -> None:
    pool, transport, refresher = make(settings, {"a": "basic", "b": "basic"})
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    chain.get(AccountSelector).bind_refresher(refresher)
    chain.get(Retry).bind_refresher(refresher)
    flow = _flow()
    await chain.request(flow)
    await chain.attempt(flow)
    token = flow.lease.token
    await chain.response(flow)
    await asyncio.sleep(0.05)
    assert sorted(transport.modes_of(token)) == ["auto", "fast"]  # first call: full refresh
    assert {t for t, _ in transport.calls} == {token}
    await refresher.stop()


class SharedLease:
    """A lease as the database gives it: one holder at a time, released on stop."""

    def __init__(self) -> None:
        self.holder: str | None = None

    def for_(self, me: str):
        async def lease(name: str, ttl: float) -> bool:
            if self.holder in (None, me):
                self.holder = me
            return self.holder == me

        async def release(name: str) -> None:
            if self.holder == me:
                self.holder = None

        return lease, release


async def test_one_leader_among_hosts_sharing_a_lease(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("addons.services.quota_refresh.LEADER_RETRY_SEC", 0.02)
    settings = make_settings(tmp_path)
    shared = SharedLease()
    lease_a, release_a = shared.for_("a")
    lease_b, release_b = shared.for_("b")
    # two hosts: a DATA_DIR each, so both file locks are free; only the lease decides
    pool, transport, first = make(settings, {"x": "basic"}, data_dir=tmp_path / "host1",
                                  tick=0.02, lease=lease_a, release_lease=release_a)
    second = QuotaRefresher(pool, transport, settings, data_dir=tmp_path / "host2", tick=0.02,
                            lease=lease_b, release_lease=release_b)
    first.start()
    second.start()
    try:
        assert await first.elect() and not await second.elect()
        assert first.is_leader and not second.is_leader and len(second._loops) == 0
        shared.holder = "b"  # the lease went to the other host (say a: expired while paused)
        assert not await first.elect()
        assert not first._loops and await second.elect()
        await second.stop()  # releases the lease: the first host takes over
        for _ in range(100):
            await asyncio.sleep(0.01)
            if first.is_leader:
                break
        assert first.is_leader and shared.holder == "a" and first._loops
    finally:
        await first.stop()
        await second.stop()
    assert shared.holder is None


async def test_scheduler_log_says_who_leads_once_and_truly(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="addons.services.quota_refresh")
    settings = make_settings(tmp_path)
    shared = SharedLease()
    lease, release = shared.for_("a")
    # a fresh process with a lease: nobody else holds the lock, so nobody else is mentioned
    pool, transport, first = make(settings, {}, data_dir=tmp_path, lease=lease,
                                  release_lease=release)
    second = QuotaRefresher(pool, transport, settings, data_dir=tmp_path)
    first.start()
    try:
        assert await first.elect() and await first.elect()
        lines = [r.getMessage() for r in caplog.records if "quota scheduler" in r.getMessage()]
        assert len(lines) == 1 and "this process leads" in lines[0], lines
        caplog.clear()
        second.start()  # a second process on the same DATA_DIR
        assert not await second.elect() and not await second.elect()
        lines = [r.getMessage() for r in caplog.records if "quota scheduler" in r.getMessage()]
        assert lines == [f"quota scheduler: another process (pid {os.getpid()}) holds "
                         ".scheduler.lock; this one follows"]
    finally:
        await first.stop()
        await second.stop()


async def test_scheduler_log_claims_no_holder_when_the_lease_store_is_away(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="addons.services.quota_refresh")

    async def away(name: str, ttl: float) -> bool:
        raise ConnectionError("database restarting")

    pool, transport, refresher = make(make_settings(tmp_path), {}, data_dir=tmp_path,
                                      lease=away)
    refresher.start()
    try:
        assert not await refresher.elect()
        assert "could not be renewed" in caplog.text and "holds the lease" not in caplog.text
    finally:
        await refresher.stop()
