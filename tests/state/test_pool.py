from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from state.account import (
    SOURCE_DEFAULT, SOURCE_ESTIMATED, SOURCE_REAL, Account, now_ms, token_label,
)
from state.pool import AccountPool, Lease


class FakeWriter:
    def __init__(self) -> None:
        self.marks: list[tuple[str, bool]] = []

    def mark(self, account: Account, *, urgent: bool = False) -> None:
        self.marks.append((account.token, urgent))


def make_pool(*accounts: Account, **kw: Any) -> tuple[AccountPool, FakeWriter]:
    writer = FakeWriter()
    pool = AccountPool(writer, **kw)  # type: ignore[arg-type]
    pool.load(accounts)
    return pool, writer


def acc(token: str, pool: str = "basic", remaining: int | None = None, **kw: Any) -> Account:
    a = Account.new(token, pool, now=0)
    for key, value in kw.items():
        setattr(a, key, value)
    if remaining is not None:
        for win in a.quota.values():
            win.remaining = remaining
    return a


def test_most_remaining_quota_first() -> None:
    pool, writer = make_pool(acc("a", remaining=5), acc("b", remaining=20), acc("c", remaining=10))
    lease = pool.select(["basic"], "fast")
    assert lease is not None and lease.token == "b" and lease.mode == "fast"
    assert lease.account.inflight == 1 and lease.account.last_use_at is not None
    assert ("b", False) in writer.marks


def test_ties_go_to_least_recently_used() -> None:
    pool, _ = make_pool(acc("a", last_use_at=300), acc("b", last_use_at=100), acc("c", last_use_at=200))
    assert pool.select(["basic"], "fast").token == "b"
    # never used beats used
    pool, _ = make_pool(acc("a", last_use_at=100), acc("b"))
    assert pool.select(["basic"], "fast").token == "b"


def test_exclude_and_max_inflight() -> None:
    pool, _ = make_pool(acc("a", remaining=30), acc("b", remaining=10))
    assert pool.select(["basic"], "fast", exclude={"a"}).token == "b"
    assert pool.select(["basic"], "fast", exclude=["a", "b"]) is None
    pool, _ = make_pool(acc("a"))
    leases = [pool.select(["basic"], "fast", max_inflight=2) for _ in range(3)]
    assert leases[0] and leases[1] and leases[2] is None
    pool.release(leases[0])
    pool.release(leases[0])  # idempotent
    assert pool.count_inflight() == 1
    assert pool.select(["basic"], "fast", max_inflight=2) is not None


def test_pool_priority_is_hard() -> None:
    heavy = acc("h", "heavy", remaining=1)
    supers = acc("s", "super", remaining=100)
    pool, _ = make_pool(heavy, supers)
    lease = pool.select(["heavy", "super"], "auto")
    assert lease.token == "h"  # one call left on heavy beats 100 on super
    pool.on_success(lease)
    pool.release(lease)
    assert pool.select(["heavy", "super"], "auto").token == "s"  # heavy exhausted
    pool, _ = make_pool(acc("h", "heavy", remaining=0), acc("s", "super"))
    assert pool.select(["heavy", "super"], "auto").token == "s"


def test_tier_must_support_the_mode() -> None:
    pool, _ = make_pool(acc("b", "basic"), acc("s", "super"))
    assert pool.select(["basic", "super"], "auto").token == "s"
    assert pool.select(["basic", "super"], "heavy") is None
    assert pool.has_usable(["basic"], "fast")
    assert not pool.has_usable(["basic"], "auto")


def test_unselectable_states() -> None:
    deleted = acc("d", deleted_at=1)
    expired = acc("e", status="expired")
    disabled = acc("x", status="disabled")
    runtime = acc("r", runtime_expired=True)
    empty = acc("z", remaining=0)
    pool, _ = make_pool(deleted, expired, disabled, runtime, empty)
    assert pool.select(["basic"], "fast") is None
    assert pool.has_usable(["basic"], "fast") is True  # runtime_expired still counts as active
    pool, _ = make_pool(deleted, expired, disabled)
    assert pool.has_usable(["basic"], "fast") is False


def test_cooling_account_comes_back_after_cooldown() -> None:
    future = now_ms() + 60_000
    pool, writer = make_pool(acc("c", status="cooling", cooldown_until=future))
    assert pool.select(["basic"], "fast") is None
    assert pool.has_usable(["basic"], "fast")  # cooling counts for availability
    lease = pool.select(["basic"], "fast", now=(future + 1) / 1000)
    assert lease is not None and lease.account.status == "active"
    assert lease.account.cooldown_until is None
    assert writer.marks and all(t == "c" for t, _ in writer.marks)


def test_window_refilled_when_reset_passed() -> None:
    a = acc("a", remaining=0)
    a.quota["fast"].reset_at = 5_000
    pool, writer = make_pool(a)
    assert pool.select(["basic"], "fast", now=4.0) is None
    assert writer.marks == []
    lease = pool.select(["basic"], "fast", now=6.0)
    assert lease is not None and a.quota["fast"].remaining == 30
    assert ("a", False) in writer.marks


def test_on_success() -> None:
    pool, writer = make_pool(acc("a"))
    lease = pool.select(["basic"], "fast")
    lease.account.consecutive_failures = 3
    lease.account.health = 0.5
    pool.on_success(lease)
    a = lease.account
    assert a.quota["fast"].remaining == 29 and a.quota["fast"].source == SOURCE_ESTIMATED
    assert a.usage_use_count == 1 and a.consecutive_failures == 0 and a.health > 0.5
    assert writer.marks[-1] == ("a", False)


def test_a_429_cools_only_that_mode_of_that_account() -> None:
    pool, writer = make_pool(acc("a", "super"), acc("b", "super"))
    lease = pool.select(["super"], "auto", only="a")
    reset = time.time() + 3600
    assert pool.on_rate_limited(lease, reset) == int(reset * 1000)
    pool.release(lease)
    a = pool.get("a")
    assert a.status == "active" and a.cooldown_until is None  # the account is not cooling
    assert a.quota["auto"].remaining == 50  # the window is not invented either
    assert a.health < 1.0 and a.usage_fail_count == 1 and writer.marks[-1] == ("a", False)
    assert pool.mode_cooling("a", "auto") and not pool.mode_cooling("a", "fast")
    # auto goes to the other account; every other mode of `a` still serves
    assert pool.select(["super"], "auto").token == "b"
    assert pool.select(["super"], "fast", exclude={"b"}).token == "a"
    assert pool.select(["super"], "auto", exclude={"b"}) is None
    # until the reset, and not after it
    later = reset + 1
    assert pool.select(["super"], "auto", exclude={"b"}, now=later).token == "a"


def test_the_random_strategy_skips_a_cooling_mode_too() -> None:
    pool, _ = make_pool(acc("a", "super"))
    lease = pool.select(["super"], "auto", strategy="random")
    pool.on_rate_limited(lease, time.time() + 600)
    pool.release(lease)
    assert pool.select(["super"], "auto", strategy="random") is None
    assert pool.select(["super"], "fast", strategy="random").token == "a"


def test_an_unexplained_429_cools_briefly_and_doubles_up_to_the_window() -> None:
    pool, _ = make_pool(acc("a", "super"))
    lengths = []
    for _ in range(9):
        lease = Lease(pool.get("a"), "auto")
        before = now_ms()
        until = pool.on_rate_limited(lease)
        lengths.append(round((until - before) / 1000))
        pool.get("a").set_mode_cooldown("auto", 0, pool.get("a").mode_cooldown("auto")["strikes"],
                                        False)  # the cooldown ran out; the strikes stay
        pool.refresh(pool.get("a"))  # fields changed behind the pool's back
    assert lengths == [60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]  # capped at the window
    # a success in that mode forgives the strikes: the next 429 is a first one again
    lease = pool.select(["super"], "auto")
    pool.on_success(lease)
    pool.release(lease)
    assert pool.get("a").mode_cooldown("auto") is None
    before = now_ms()
    assert (pool.on_rate_limited(Lease(pool.get("a"), "auto")) - before) // 1000 in (59, 60)


def test_answers_to_tries_sent_before_a_429_do_not_end_its_cooldown() -> None:
    """Several requests were under way on the account when one of its tries got a 429: their
    answers ending well say nothing about the limit that came after they were sent, so the
    mode keeps cooling and a further 429 doubles the cooldown. A try sent after the
    cooldown ended and answered well forgives the strikes."""
    pool, _ = make_pool(acc("a", "super"))
    sent_before = [pool.select(["super"], "auto", now=100.0) for _ in range(3)]
    first = pool.on_rate_limited(sent_before[0])
    for lease in sent_before[1:]:
        pool.on_success(lease)
        pool.release(lease)
    assert pool.mode_cooling("a", "auto") and pool.get("a").mode_cooldown("auto")["until"] == first
    before = now_ms()
    assert (pool.on_rate_limited(sent_before[0]) - before) // 1000 in (119, 120)  # a second 429
    entry = pool.get("a").mode_cooldown("auto")
    pool.get("a").set_mode_cooldown("auto", 0, entry["strikes"], False, entry["since"])
    pool.refresh(pool.get("a"))  # the cooldown ran out
    later = pool.select(["super"], "auto", now=time.time() + 1)
    pool.on_success(later)
    assert pool.get("a").mode_cooldown("auto") is None


def test_the_probe_after_a_429_decides_how_long_the_mode_cools() -> None:
    pool, _ = make_pool(acc("a", "super"), acc("b", "super"), acc("c", "super"))
    for token in ("a", "b", "c"):
        pool.on_rate_limited(Lease(pool.get(token), "auto"))
    start = now_ms()
    # exhausted: until the window resets
    pool.apply_probe("a", "auto", 0, 50, 7200)
    assert pool.get("a").mode_cooldown("auto")["until"] >= start + 7_200_000 - 1000
    assert pool.get("a").mode_cooldown("auto")["confirmed"]
    # told to wait: until then, whatever the count says
    pool.apply_probe("b", "auto", 3, 50, 7200, wait_seconds=900)
    entry = pool.get("b").mode_cooldown("auto")
    assert entry["confirmed"] and abs(entry["until"] - (start + 900_000)) < 2000
    assert pool.get("b").quota["auto"].remaining == 0
    # quota left (a probe can lag behind the chat's limit): the short cooldown stands
    pool.apply_probe("c", "auto", 40, 50, 7200)
    entry = pool.get("c").mode_cooldown("auto")
    assert not entry["confirmed"] and entry["until"] <= now_ms() + 61_000
    assert pool.get("c").quota["auto"].remaining == 40
    assert pool.select(["super"], "auto") is None
    assert pool.select(["super"], "auto", now=(now_ms() + 61_000) / 1000).token == "c"


def test_a_probe_of_a_mode_that_is_not_cooling_only_updates_the_window() -> None:
    pool, _ = make_pool(acc("a", "super"))
    assert pool.apply_probe("a", "auto", 0, 50, 7200, wait_seconds=60)
    a = pool.get("a")
    assert a.mode_cooldown("auto") is None and a.quota["auto"].remaining == 0
    assert pool.apply_probe("missing", "auto", 1, 1, 1) is False


def test_a_throttle_lifts_the_cooldown_of_its_429_unless_a_probe_confirmed_it() -> None:
    pool, _ = make_pool(acc("a", "super"), acc("b", "super"))
    for token in ("a", "b"):
        pool.on_rate_limited(Lease(pool.get(token), "auto"))
    pool.apply_probe("b", "auto", 0, 50, 7200)  # b's quota really is gone
    assert pool.lift_rate_limit("a", "auto") is True
    assert pool.lift_rate_limit("b", "auto") is False
    assert pool.get("a").mode_cooldown("auto") is None  # its one strike taken back
    assert pool.select(["super"], "auto").token == "a"
    assert pool.lift_rate_limit("a", "auto") is False  # nothing left to lift


def test_apply_quota_reactivates_failure_cooling() -> None:
    pool, writer = make_pool(acc("a", "super", status="cooling", cooldown_until=now_ms() + 60_000,
                                 state_reason="consecutive_failures"))
    pool.apply_quota("a", "auto", 12, 50, 7200)
    a = pool.get("a")
    assert a.status == "active"
    win = a.quota["auto"]
    assert (win.remaining, win.total, win.source) == (12, 50, SOURCE_REAL)
    assert writer.marks[-1][0] == "a"
    pool.apply_quota("missing", "auto", 1, 1, 1)  # unknown token: ignored


def test_apply_quota_basic_clamp() -> None:
    pool, _ = make_pool(acc("a"))
    pool.apply_quota("a", "fast", 70, 80, 3600)
    win = pool.get("a").quota["fast"]
    assert (win.remaining, win.total, win.window_seconds) == (30, 30, 86400)


def test_on_invalid_credentials_is_urgent() -> None:
    pool, writer = make_pool(acc("a"))
    pool.on_invalid_credentials("a", "invalid-credentials")
    a = pool.get("a")
    assert a.status == "expired" and a.state_reason == "invalid-credentials"
    assert a.ext["expired_reason"] == "invalid-credentials"
    assert writer.marks[-1] == ("a", True)
    assert pool.select(["basic"], "fast") is None


def test_on_unauthorized_is_runtime_only() -> None:
    pool, writer = make_pool(acc("a"))
    pool.on_unauthorized("a")
    a = pool.get("a")
    assert a.runtime_expired and a.status == "active"
    assert a.usage_fail_count == 1 and a.consecutive_failures == 1
    assert writer.marks[-1] == ("a", False)
    assert pool.select(["basic"], "fast") is None
    # reloading from the database keeps the runtime flag of this process
    fresh = acc("a")
    pool.load([fresh])
    assert fresh.runtime_expired


def test_failures_never_take_an_account_out() -> None:
    """Upstream 5xx, cut and stalled streams are not evidence about the account: they are
    counted and lower its score, and it keeps serving."""
    pool, _ = make_pool(acc("a"))
    for _ in range(50):
        lease = pool.select(["basic"], "fast")
        assert lease is not None and lease.token == "a"
        pool.on_failure(lease, "upstream 503 (server_error)")
        pool.release(lease)
    a = pool.get("a")
    assert a.status == "active" and a.cooldown_until is None and not a.ext
    assert a.usage_fail_count == 50 and a.consecutive_failures == 50 and a.health == 0.05
    assert a.last_fail_reason == "upstream 503 (server_error)" and a.last_fail_at


def test_add_delete_restore() -> None:
    pool, writer = make_pool()
    assert pool.add(" sso=tok.one ", "super", tags=["nsfw"], note="n") is True
    assert pool.add("tok.one") is False
    a = pool.get("tok.one")
    assert a.pool == "super" and a.tags == ["nsfw"] and set(a.quota) >= {"auto", "fast"}
    assert pool.delete("tok.one") is True and pool.delete("tok.one") is False
    assert pool.select(["super"], "auto") is None
    assert not pool.has_usable(["super"], "auto")
    a.status, a.consecutive_failures = "expired", 4
    assert pool.add("tok.one", "basic") is True  # restored
    assert a.deleted_at is None and a.status == "active" and a.consecutive_failures == 0
    assert a.pool == "basic" and set(a.quota) == {"fast"}
    assert pool.select(["basic"], "fast").token == "tok.one"
    assert pool.select(["super"], "fast") is None
    assert ("tok.one", True) in writer.marks
    with pytest.raises(ValueError):
        pool.add("   ")


def test_operator_actions() -> None:
    pool, _ = make_pool(acc("a"))
    assert pool.disable("a")
    assert pool.get("a").status == "disabled" and pool.select(["basic"], "fast") is None
    assert pool.enable("a")
    assert pool.select(["basic"], "fast").token == "a"
    assert pool.set_pool("a", "heavy")
    assert pool.select(["heavy"], "heavy").token == "a"
    assert pool.select(["basic"], "fast") is None


def test_every_mutation_marks_dirty() -> None:
    pool, writer = make_pool(acc("a"), acc("b"))
    lease = pool.select(["basic"], "fast")
    n = len(writer.marks)
    for call in (lambda: pool.on_success(lease), lambda: pool.on_failure(lease, "x"),
                 lambda: pool.on_rate_limited(lease), lambda: pool.on_unauthorized("b"),
                 lambda: pool.on_invalid_credentials("b", "blocked-user"),
                 lambda: pool.apply_quota("a", "fast", 1, 30, 86400), lambda: pool.delete("a")):
        call()
        assert len(writer.marks) == n + 1
        n += 1


def test_lease_token() -> None:
    a = acc("zz")
    assert Lease(a, "fast").token == "zz"
    assert AccountPool(None).select(["basic"], "fast") is None


def test_update_tags_keeps_order_without_duplicates() -> None:
    pool = AccountPool(None)
    pool.add("tok-tags", tags=["a"])
    assert pool.update_tags("tok-tags", add=["b", "a"]) is True
    assert pool.get("tok-tags").tags == ["a", "b"]
    assert pool.update_tags("tok-tags", add=["c"], remove=["a"]) is True
    assert pool.get("tok-tags").tags == ["b", "c"]
    assert pool.update_tags("missing", add=["x"]) is False


# ---------------------------------------------------------------------- re-enable after a 429
TOKEN = "eyJhbGciOiJIUzI1NiJ9.secret-part.signature"


def test_an_account_enabled_after_a_429_serves_the_next_request() -> None:
    pool, _ = make_pool(acc("a", "super"))
    lease = pool.select(["super"], "auto")
    pool.on_rate_limited(lease, time.time() + 3600)
    pool.release(lease)
    pool.on_rate_limited(Lease(pool.get("a"), "fast"))  # a second 429, on another mode
    assert pool.select(["super"], "auto") is None
    assert pool.enable("a")
    a = pool.get("a")
    assert a.status == "active" and a.cooldown_until is None
    for mode in ("auto", "fast"):
        lease = pool.select(["super"], mode)
        assert lease is not None and lease.token == "a", mode
        pool.release(lease)
    # the reopened windows are the tier default, marked unknown (not a real reading)
    assert a.quota["auto"].source == SOURCE_DEFAULT and a.quota["auto"].reset_at is None
    assert a.quota["expert"].remaining == 50  # a window with quota left is kept as it was


def test_restoring_a_deleted_account_reopens_its_empty_windows() -> None:
    pool, _ = make_pool(acc("a", "basic", remaining=0))
    pool.delete("a")
    assert pool.add("a", "basic")
    assert pool.select(["basic"], "fast").token == "a"


# ---------------------------------------------------------------------- state-change log lines
def _pool_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "state.pool"]


def test_every_state_change_is_logged_by_label_never_by_token(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="state.pool")
    label = token_label(TOKEN)
    pool, _ = make_pool(acc(TOKEN, "super"))
    lease = pool.select(["super"], "auto")
    pool.on_rate_limited(lease)
    pool.release(lease)
    assert any(f"account {label} mode auto cooling until" in m and "rate limited (429 #1)"
               in m for m in _pool_log(caplog))
    pool.apply_probe(TOKEN, "auto", 0, 50, 7200)
    assert any(f"account {label} mode auto cooling until" in m and "found no quota left" in m
               for m in _pool_log(caplog))

    pool.enable(TOKEN)
    assert any(f"account {label} active -> active (enabled); 429 cooldown of auto cleared; "
               "quota of auto reset to unknown" == m for m in _pool_log(caplog))

    lease = pool.select(["super"], "fast")
    pool.on_rate_limited(lease)
    pool.release(lease)
    pool.on_success(Lease(pool.get(TOKEN), "fast", at=now_ms() + 1))  # a try sent after it
    assert f"account {label} mode fast serves again: its 429 strikes are cleared" in \
        _pool_log(caplog)

    pool.disable(TOKEN)
    pool.enable(TOKEN)
    pool.on_invalid_credentials(TOKEN, f"401 invalid-credentials ({TOKEN})")
    pool.on_unauthorized(TOKEN)
    pool.delete(TOKEN)
    messages = _pool_log(caplog)
    for expected in (f"account {label} active -> disabled (operator_disabled)",
                     f"account {label} disabled -> active (enabled)",
                     f"account {label} active -> expired: 401 invalid-credentials ({label})",
                     f"account {label} expired in this process (plain 401)",
                     f"account {label} deleted (was expired)"):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    assert all(TOKEN not in m for m in messages)
    levels = {r.levelname for r in caplog.records if r.name == "state.pool"}
    assert levels <= {"INFO", "WARNING"}


def test_a_probe_that_ends_a_cooldown_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="state.pool")
    pool, _ = make_pool(acc("tok.cooling", "super"))
    # an account-wide cooldown as earlier versions set them (still found in databases)
    pool.get("tok.cooling").cool_down(now_ms() + 900_000, "consecutive_failures")
    pool.apply_quota("tok.cooling", "auto", 12, 50, 7200)
    assert pool.get("tok.cooling").status == "active"
    assert any("active again: a quota probe found 12 left on mode auto" in m
               for m in _pool_log(caplog))
