"""Selection scoped to tags (a client key's scope): only accounts carrying one of the tags
are ever leased, whatever the scores of the others, and the tag map follows every change."""
from __future__ import annotations

from state.account import Account
from state.pool import QUOTA, RANDOM, AccountPool
from tests.state.test_pool import acc, make_pool


def tagged(token: str, *tags: str, remaining: int = 10, pool: str = "basic") -> Account:
    a = acc(token, pool, remaining=remaining)
    a.tags = list(tags)
    return a


def pick(pool: AccountPool, tags, strategy: str = QUOTA, **kw) -> str | None:
    lease = pool.select(["basic"], "fast", tags=tags, strategy=strategy, **kw)
    if lease is None:
        return None
    pool.release(lease)
    return lease.token


def test_only_tagged_accounts_are_leased_whatever_the_others_score() -> None:
    others = [tagged(f"other-{i}", remaining=1000) for i in range(200)]
    pool, _ = make_pool(*others, tagged("team-low", "team-a", remaining=1),
                        tagged("team-high", "team-a", "x", remaining=50),
                        tagged("b-only", "team-b", remaining=500))
    for strategy in (QUOTA, RANDOM):
        seen = {pick(pool, frozenset({"team-a"}), strategy) for _ in range(30)}
        assert seen <= {"team-low", "team-high"} and seen
    assert pick(pool, frozenset({"team-a"})) == "team-high"  # the best score among them
    assert {pick(pool, frozenset({"team-a", "team-b"}), RANDOM) for _ in range(60)} == {
        "team-low", "team-high", "b-only"}
    assert pick(pool, None) not in {"team-low", "team-high", "b-only"}  # unscoped: by score


def test_busy_tagged_accounts_wait_instead_of_passing_to_another() -> None:
    pool, _ = make_pool(tagged("free", remaining=100), tagged("team", "team-a"))
    lease = pool.select(["basic"], "fast", tags={"team-a"}, max_inflight=1)
    assert lease is not None and lease.token == "team"
    assert pool.select(["basic"], "fast", tags={"team-a"}, max_inflight=1) is None
    assert pool.saturated(["basic"], "fast", tags={"team-a"})
    pool.release(lease)
    assert not pool.saturated(["basic"], "fast", tags={"team-a"})
    pool.disable("team")
    assert pick(pool, {"team-a"}) is None and not pool.saturated(["basic"], "fast",
                                                                  tags={"team-a"})


def test_the_tag_map_follows_tag_changes_merges_and_pinning() -> None:
    pool, _ = make_pool(tagged("a"), tagged("b"))
    assert pick(pool, {"team-a"}) is None
    pool.update_tags("b", add=["team-a"])
    assert pick(pool, {"team-a"}) == "b"
    incoming = tagged("a", "team-a")
    incoming.revision = 99
    pool.merge([incoming])  # another worker tagged it
    pool.update_tags("b", remove=["team-a"])
    assert {pick(pool, {"team-a"}) for _ in range(5)} == {"a"}
    # a pinned account outside the scope is not leased
    assert pool.select(["basic"], "fast", only="b", tags={"team-a"}) is None
    pool.get("a").tags = []  # changed behind the pool's back: the walk re-checks
    assert pick(pool, {"team-a"}) is None
