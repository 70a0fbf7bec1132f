"""Several workers / instances on one database: two `AccountState`s share a SQLite file, a
PostgreSQL or a MariaDB database and see each other's changes (an operator's disable, enable
or delete included) within the sync interval."""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from state.boot import BootConfig
from state.runtime import AccountState
from state.settings import Settings
from tests.state.conftest import _server_db

REDIS_URL = os.environ.get("GROK2API_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Factory = Callable[..., AccountState]


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def boot_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"DATA_DIR": str(tmp_path), "GROK_ACCOUNT_SAVE_DELAY_MS": "20",
           "ACCOUNT_SYNC_ACTIVE_INTERVAL": "0.1", "ACCOUNT_SYNC_INTERVAL": "0.5"}
    if request.param == "sqlite":
        yield env
        return
    gen = _server_db(request.param)
    url = next(gen)
    yield {**env, "DATABASE_URL": url}
    try:
        next(gen)
    except StopIteration:
        pass


@pytest_asyncio.fixture
async def states(boot_env: dict[str, str]) -> AsyncIterator[Factory]:
    started: list[AccountState] = []

    def make(**extra: str) -> AccountState:
        boot = BootConfig.from_env({**boot_env, **extra}, dotenv=False)
        state = AccountState(boot, Settings.load(boot))
        started.append(state)
        return state

    yield make
    for state in started:
        await state.stop()


async def _pair(make: Factory, **extra: str) -> tuple[AccountState, AccountState]:
    a, b = make(**extra), make(**extra)
    await a.start()
    await b.start()
    return a, b


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "not seen in time"
        await asyncio.sleep(0.02)


async def test_add_disable_delete_seen_after_sync_now(states: Factory) -> None:
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60")
    assert a.pool.add("tok.new", "super") and a.pool.add("tok.gone", "super")
    await a.sync_now()  # a's forced sync saves first
    assert await b.sync_now() == 2
    assert b.pool.select(["super"], "auto", only="tok.new") is not None
    a.pool.disable("tok.new")
    a.pool.delete("tok.gone")
    await a.sync_now()
    await b.sync_now()
    assert b.pool.get("tok.new").status == "disabled"
    assert not b.pool.usable("tok.new") and not b.pool.usable("tok.gone")
    assert b.pool.select(["super"], "auto") is None
    a.pool.enable("tok.new")
    await a.sync_now()
    await b.sync_now()
    assert b.pool.usable("tok.new") and b.revision == a.revision


async def test_changes_arrive_within_the_interval(states: Factory) -> None:
    a, b = await _pair(states)
    a.pool.add("tok.a", "basic")
    await _until(lambda: b.pool.get("tok.a") is not None)
    a.pool.on_invalid_credentials("tok.a", "blocked-user")  # a traffic-made expiry
    await _until(lambda: b.pool.get("tok.a").status == "expired")
    assert b.pool.get("tok.a").ext["expired_reason"] == "blocked-user"
    a.pool.enable("tok.a")
    await _until(lambda: b.pool.get("tok.a").status == "active")
    lease = a.pool.select(["basic"], "fast")
    a.pool.on_rate_limited(lease, reset_at=time.time() + 3600)  # a mode's cooldown spreads too
    a.pool.release(lease)
    await _until(lambda: b.pool.mode_cooling("tok.a", "fast"))
    assert b.pool.select(["basic"], "fast") is None


async def test_poll_backs_off_when_idle(states: Factory) -> None:
    a = states(ACCOUNT_SYNC_ACTIVE_INTERVAL="0.05", ACCOUNT_SYNC_INTERVAL="30")
    await a.start()
    assert a.sync.interval == 0.05
    await _until(lambda: a.sync.polls >= 5)
    await asyncio.sleep(0.1)
    assert a.sync.interval == 30 and a.sync.polls == 5
    a.sync.poke()
    await _until(lambda: a.sync.polls == 6)
    assert a.sync.interval == 0.05


async def test_no_clobbering_between_processes(states: Factory) -> None:
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60")
    a.pool.add("tok.x", "super")
    await a.sync_now()
    await b.sync_now()
    # b serves traffic on the account before it hears of a's disable
    a.pool.disable("tok.x")
    await a.sync_now()
    for _ in range(3):
        lease = b.pool.select(["super"], "auto")
        b.pool.on_success(lease)
        b.pool.release(lease)
    await b.writer.flush_now()  # b's save lands after a's disable: it must not revert it
    stored = await b.thread.run(b.store.get, "tok.x")
    assert stored.status == "disabled" and stored.usage_use_count == 3
    await b.sync_now()
    assert b.pool.get("tok.x").status == "disabled"
    assert b.pool.get("tok.x").usage_use_count == 3


async def test_counters_and_quota_from_both_add_up(states: Factory) -> None:
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60")
    a.pool.add("tok.q", "super")
    await a.sync_now()
    await b.sync_now()
    for state, n in ((a, 4), (b, 6)):
        for _ in range(n):
            lease = state.pool.select(["super"], "auto")
            state.pool.on_success(lease)
            state.pool.release(lease)
    await a.writer.flush_now()
    await b.writer.flush_now()
    await a.sync_now()
    await b.sync_now()
    for state in (a, b):
        acc = state.pool.get("tok.q")
        assert acc.usage_use_count == 10 and acc.quota["auto"].remaining == 40
    stored = await a.thread.run(a.store.get, "tok.q")
    assert stored.usage_use_count == 10 and stored.quota["auto"].remaining == 40


async def test_open_lease_survives_a_merge(states: Factory) -> None:
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60")
    a.pool.add("tok.l", "super")
    await a.sync_now()
    await b.sync_now()
    lease = b.pool.select(["super"], "auto")
    a.pool.set_pool("tok.l", "heavy")
    await a.sync_now()
    await b.sync_now()
    acc = b.pool.get("tok.l")
    assert acc is lease.account and acc.pool == "heavy" and acc.inflight == 1
    b.pool.release(lease)
    assert acc.inflight == 0 and b.pool.select(["heavy"], "heavy") is not None


# ---------------------------------------------------------------------------- Redis
def _redis_up() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


@pytest.fixture
def redis_env() -> dict[str, str]:
    if not _redis_up():
        pytest.skip("no Redis server")
    return {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": f"g2a-test-{uuid.uuid4().hex[:8]}:"}


@pytest.mark.parametrize("boot_env", ["sqlite"], indirect=True)
async def test_redis_signal_inflight_and_lease(states: Factory, redis_env: dict[str, str]) -> None:
    # a 60 s poll interval: only the Redis signal can make b see a's change quickly
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60",
                       **redis_env)
    await asyncio.sleep(0.2)  # subscriptions in place
    a.pool.add("tok.r", "super")
    await _until(lambda: b.pool.get("tok.r") is not None, timeout=3)

    leases = [a.pool.select(["super"], "auto", max_inflight=3) for _ in range(2)]
    assert all(leases)
    await _until(lambda: b.pool.get("tok.r").peer_inflight == 2, timeout=3)
    assert b.pool.select(["super"], "auto", max_inflight=3) is not None
    assert b.pool.select(["super"], "auto", max_inflight=3) is None  # 2 there + 1 here
    assert b.pool.get("tok.r").local_inflight == 1
    for lease in leases:
        a.pool.release(lease)
    await _until(lambda: b.pool.get("tok.r").peer_inflight == 0, timeout=3)
    assert b.pool.select(["super"], "auto", max_inflight=3) is not None

    assert await a.lease("refresh", 5) and await a.lease("refresh", 5)
    assert not await b.lease("refresh", 5)


async def test_an_enable_elsewhere_puts_a_rate_limited_account_back_in_service(
        states: Factory) -> None:
    """A 429 on one worker cools the mode; an operator's enable on another (or the CLI)
    reaches the first through the database, the mode reopened with it."""
    a, b = await _pair(states, ACCOUNT_SYNC_ACTIVE_INTERVAL="60", ACCOUNT_SYNC_INTERVAL="60")
    a.pool.add("tok.limited", "super")
    lease = a.pool.select(["super"], "auto")
    a.pool.on_rate_limited(lease, time.time() + 3600)
    a.pool.release(lease)
    await a.sync_now()
    await b.sync_now()
    assert b.pool.mode_cooling("tok.limited", "auto")
    assert b.pool.enable("tok.limited")
    await b.sync_now()
    await a.sync_now()
    lease = a.pool.select(["super"], "auto")
    assert lease is not None and lease.token == "tok.limited"
