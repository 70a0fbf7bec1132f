"""Selection strategies: quota scoring, uniform random, in-flight caps."""
from __future__ import annotations

from collections import Counter

from state.account import now_ms
from state.pool import QUOTA, RANDOM, score
from tests.state.test_pool import acc, make_pool


def test_score_follows_the_formula() -> None:
    a = acc("a", remaining=10, health=0.5, consecutive_failures=12)
    a.inflight = 2
    assert score(a, 10, now_ms()) == 100 * 0.5 + 25 * 10 - 20 * 2 - 4 * 10
    now = now_ms()
    a.last_use_at = now - 5000  # used 5 s ago: 15·(1 − 5/15) = 10 off
    assert score(a, 10, now) == 50 + 250 - 40 - 40 - 10


def test_quota_strategy_picks_the_highest_score() -> None:
    # b has one more query left but bad health: 100·1 + 25·10 > 100·0.05 + 25·11
    pool, _ = make_pool(acc("a", remaining=10), acc("b", remaining=11, health=0.05))
    assert pool.select(["basic"], "fast", strategy=QUOTA).token == "a"


def test_quota_strategy_penalises_inflight_failures_and_recent_use() -> None:
    now = now_ms()
    pool, _ = make_pool(acc("a", remaining=10), acc("b", remaining=10, consecutive_failures=1))
    assert pool.select(["basic"], "fast", now=now).token == "a"  # b loses 4
    # a is now leased (−20) and was just used (−15): b wins
    assert pool.select(["basic"], "fast", now=now).token == "b"


def test_quota_strategy_keeps_hard_pool_priority() -> None:
    pool, _ = make_pool(acc("s", "super", remaining=1), acc("h", "heavy", remaining=100))
    assert pool.select(["super", "heavy"], "auto", max_inflight=1).token == "s"
    # s is at its in-flight cap: only now is the (much fuller) heavy pool used
    assert pool.select(["super", "heavy"], "auto", max_inflight=1).token == "h"


def test_max_inflight_is_enforced_in_both_strategies() -> None:
    for how in (QUOTA, RANDOM):
        pool, _ = make_pool(acc("a", remaining=30))
        leases = [pool.select(["basic"], "fast", max_inflight=2, strategy=how) for _ in range(3)]
        assert [lease is not None for lease in leases] == [True, True, False]


def test_random_strategy_is_uniform_and_ignores_quota() -> None:
    pool, _ = make_pool(acc("a", remaining=30), acc("b", remaining=0), acc("c", remaining=1))
    seen: Counter[str] = Counter()
    for _ in range(3000):
        lease = pool.select(["basic"], "fast", strategy=RANDOM)
        seen[lease.token] += 1
        pool.release(lease)
    assert set(seen) == {"a", "b", "c"}
    assert all(800 < n < 1200 for n in seen.values())


def test_random_strategy_skips_cooling_and_excluded_accounts() -> None:
    pool, _ = make_pool(acc("a"), acc("b"), acc("c"))
    lease = pool.select(["basic"], "fast", strategy=RANDOM, exclude={"c"})
    pool.on_rate_limited(lease, reset_at=now_ms() / 1000 + 86400)
    other = "b" if lease.token == "a" else "a"
    for _ in range(20):
        got = pool.select(["basic"], "fast", strategy=RANDOM, exclude={"c"})
        assert got.token == other
        pool.release(got)
    assert pool.select(["basic"], "fast", strategy=RANDOM, exclude={"c", other}) is None
