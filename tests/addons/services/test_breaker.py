"""The upstream circuit breaker on its own, on a fake clock: when it opens (failures of one
kind across several accounts, never one account's nor the client's), what it answers while
open, the half-open probe, the growing interval, and a throttle of the egress (429 on many
accounts) told apart from one account's 429."""
from __future__ import annotations

from pathlib import Path

import pytest

from addons.services.breaker import (
    CHALLENGE, CLOSED, HALF_OPEN, OPEN, THROTTLED, UNAVAILABLE, CircuitBreaker,
)
from addons.upstream import classify as kinds
from state.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, **env: str) -> tuple[CircuitBreaker, Clock]:
    environ = {"GROK_BREAKER_" + k.upper(): v for k, v in env.items()}
    clock = Clock()
    return CircuitBreaker(Settings(tmp_path / "config.toml", environ=environ), clock), clock


def fail(breaker: CircuitBreaker, accounts: list[str], kind: str = kinds.SERVER_ERROR,
         status: int = 503, flow: str = "f") -> list:
    return [breaker.record_failure(kind, status, account, flow, (account, "fast"))
            for account in accounts]


ACCOUNTS = ["a", "b", "c", "d", "e", "f"]


def test_failures_of_one_kind_across_accounts_open_it(tmp_path) -> None:
    breaker, clock = make(tmp_path)  # 6 failures, 3 accounts, half the tries, 5 s
    verdicts = fail(breaker, ACCOUNTS[:5])
    assert breaker.state == CLOSED and not any(v.upstream for v in verdicts)
    assert breaker.check("next") is None
    (last,) = fail(breaker, ["f"])
    assert last.upstream and breaker.state == OPEN and breaker.reason == UNAVAILABLE
    refusal = breaker.check("next")
    assert refusal is not None and refusal.status == 503 and refusal.reason == UNAVAILABLE
    assert refusal.retry_after == pytest.approx(5.0)
    clock.now += 2
    assert breaker.check("next").retry_after == pytest.approx(3.0)
    # tries already under way when it opened: their failures, of any kind, are the outage's
    assert fail(breaker, ["a"])[0].upstream
    assert fail(breaker, ["a"], kinds.RATE_LIMITED, 429)[0].upstream


def test_one_bad_account_never_opens_it(tmp_path) -> None:
    breaker, _ = make(tmp_path)
    fail(breaker, ["a"] * 50)
    fail(breaker, ["b", "b"])  # two accounts still are not three
    assert breaker.state == CLOSED and breaker.check("x") is None


@pytest.mark.parametrize("kind", [kinds.REJECTED, kinds.FORBIDDEN, kinds.CREDENTIALS,
                                  kinds.UNAUTHORIZED, kinds.EMPTY])
def test_client_errors_and_account_failures_never_open_it(tmp_path, kind) -> None:
    breaker, _ = make(tmp_path)
    assert not any(v.upstream for v in fail(breaker, ACCOUNTS * 5, kind, 400))
    assert breaker.state == CLOSED


def test_failures_must_be_most_of_the_recent_tries(tmp_path) -> None:
    breaker, _ = make(tmp_path, failure_ratio="0.5")
    for account in ACCOUNTS * 2:
        breaker.record_success(account, "ok")
    fail(breaker, ACCOUNTS)  # 6 failures among 18 tries
    assert breaker.state == CLOSED
    fail(breaker, ACCOUNTS)  # 12 among 24
    assert breaker.state == OPEN


def test_old_failures_leave_the_window(tmp_path) -> None:
    breaker, clock = make(tmp_path, window_sec="10")
    fail(breaker, ACCOUNTS[:5])
    clock.now += 11
    fail(breaker, ["f"])
    assert breaker.state == CLOSED
    assert breaker.snapshot()["window"]["failures"][UNAVAILABLE] == 1


def test_half_open_lets_one_probe_through_and_its_success_closes(tmp_path) -> None:
    breaker, clock = make(tmp_path, open_sec="5")
    fail(breaker, ACCOUNTS)
    clock.now += 5
    assert breaker.check("probe") is None  # the first request after the interval probes
    assert breaker.state == HALF_OPEN and breaker.is_probe("probe")
    other = breaker.check("other")
    assert other is not None and other.retry_after == 1.0 and other.status == 503
    assert breaker.check("probe") is None  # the probe's own retry may go on
    breaker.record_success("a", "other")  # a try started earlier proves less
    assert breaker.state == HALF_OPEN
    breaker.record_success("a", "probe")
    assert breaker.state == CLOSED and breaker.check("other") is None
    assert breaker.snapshot()["window"]["tries"] == 0  # a fresh start


def test_a_probe_whose_answer_started_then_failed_reopens_the_breaker(tmp_path) -> None:
    breaker, clock = make(tmp_path, open_sec="5")
    fail(breaker, ACCOUNTS)
    clock.now += 5
    assert breaker.check("probe") is None
    breaker.probe_answered("probe")  # its first content closed the breaker ...
    assert breaker.state == CLOSED
    throttled = breaker.record_failure(kinds.RATE_LIMITED, 429, "b", "meanwhile", ("b", "fast"))
    assert not throttled.upstream  # one 429 alone is its account's
    verdict = breaker.record_failure(kinds.SERVER_ERROR, 502, "a", "probe")  # ... then it broke
    assert verdict.upstream and breaker.state == OPEN
    assert verdict.absolved == (("b", "fast"),)  # that 429 was the outage's after all
    assert breaker.check("next").retry_after == 10  # as after a failed probe: doubled
    # a probe whose answer completed has proved grok.com is back: later failures are counted
    clock.now += 10
    assert breaker.check("probe-2") is None
    breaker.record_success("a", "probe-2")
    breaker.release("probe-2")  # its flow ended
    assert not breaker.record_failure(kinds.SERVER_ERROR, 502, "a", "other").upstream
    assert breaker.state == CLOSED


def test_each_failed_probe_doubles_the_interval_up_to_the_maximum(tmp_path) -> None:
    breaker, clock = make(tmp_path, open_sec="5", max_open_sec="30")
    fail(breaker, ACCOUNTS)
    intervals = []
    for n in range(5):
        intervals.append(breaker.check(f"wait-{n}").retry_after)
        clock.now += intervals[-1]
        assert breaker.check(f"probe-{n}") is None
        verdict = breaker.record_failure(kinds.TIMEOUT, 504, "a", f"probe-{n}")
        assert verdict.upstream and breaker.state == OPEN
    assert intervals == [5, 10, 20, 30, 30]
    assert breaker.snapshot()["trips"] == 6  # the outage, then five failed probes
    # once it closes, the next outage starts from the first interval again
    clock.now += 30
    breaker.check("good")
    breaker.record_success("a", "good")
    fail(breaker, ACCOUNTS)
    assert breaker.check("x").retry_after == 5


def test_a_probe_that_says_nothing_lets_the_next_request_probe(tmp_path) -> None:
    breaker, clock = make(tmp_path)
    fail(breaker, ACCOUNTS)
    clock.now += 5
    assert breaker.check("probe") is None
    # its account was dead: not grok.com's fault, nothing learnt
    assert not breaker.record_failure(kinds.CREDENTIALS, 401, "a", "probe").upstream
    assert breaker.state == HALF_OPEN and breaker.check("next") is None
    breaker.release("next")  # the client left
    assert breaker.check("third") is None and breaker.is_probe("third")


def test_a_throttle_of_the_egress_is_a_429_and_absolves_the_accounts(tmp_path) -> None:
    breaker, _ = make(tmp_path)
    # one account's 429s: its quota, not the egress
    assert not any(v.upstream for v in fail(breaker, ["a"] * 10, kinds.RATE_LIMITED, 429))
    assert breaker.state == CLOSED
    assert not fail(breaker, ["b"], kinds.RATE_LIMITED, 429)[0].upstream
    (verdict,) = fail(breaker, ["c"], kinds.RATE_LIMITED, 429)  # a third account at once
    assert breaker.state == OPEN and breaker.reason == THROTTLED and verdict.upstream
    # every 429 of the window is the throttle's: their accounts' cooldowns may be lifted
    assert sorted(set(verdict.absolved)) == [("a", "fast"), ("b", "fast"), ("c", "fast")]
    refusal = breaker.check("x")
    assert (refusal.status, refusal.reason) == (429, THROTTLED)


@pytest.mark.parametrize(("kind", "statuses", "status"), [
    (kinds.SERVER_ERROR, [500, 502, 500, 503, 502, 502], 502),
    (kinds.SERVER_ERROR, [503] * 6, 503),
    (kinds.TIMEOUT, [504] * 6, 504),
    (kinds.CONNECTION, [502] * 6, 502),
    (kinds.CHALLENGE, [403] * 6, 503),
])
def test_clients_get_the_class_of_error_grok_com_gives(tmp_path, kind, statuses, status) -> None:
    breaker, _ = make(tmp_path)
    for account, upstream_status in zip(ACCOUNTS, statuses):
        breaker.record_failure(kind, upstream_status, account, "f")
    refusal = breaker.check("x")
    assert refusal.status == status
    assert refusal.reason == (CHALLENGE if kind == kinds.CHALLENGE else UNAVAILABLE)


def test_turned_off_it_never_refuses(tmp_path) -> None:
    breaker, _ = make(tmp_path, enabled="false")
    assert not any(v.upstream for v in fail(breaker, ACCOUNTS * 3))
    assert breaker.state == CLOSED and breaker.check("x") is None


def test_the_snapshot_says_what_health_shows(tmp_path) -> None:
    breaker, clock = make(tmp_path)
    assert breaker.snapshot() == {
        "state": "closed", "reason": None, "status": None, "retry_after_sec": 0.0,
        "open_interval_sec": 0.0, "trips": 0,
        "window": {"tries": 0, "failures": {"unavailable": 0, "challenge": 0, "throttled": 0},
                   "accounts": {"unavailable": 0, "challenge": 0, "throttled": 0}}}
    fail(breaker, ACCOUNTS)
    clock.now += 1.5
    snap = breaker.snapshot()
    assert (snap["state"], snap["reason"], snap["status"], snap["trips"]) == (
        "open", "unavailable", 503, 1)
    assert snap["retry_after_sec"] == 3.5 and snap["open_interval_sec"] == 5.0
    assert snap["window"]["failures"]["unavailable"] == 6
    assert snap["window"]["accounts"]["unavailable"] == 6


def busy(breaker: CircuitBreaker, tries: int = 300) -> None:
    """Traffic that went well: the window fills with successes."""
    for n in range(tries):
        breaker.record_success(ACCOUNTS[n % len(ACCOUNTS)], "ok")


def test_a_throttle_after_busy_traffic_opens_it_though_its_429s_stop_the_tries(tmp_path) -> None:
    """Each 429 takes its account's mode out of rotation, so the 429s of an egress throttle
    that follows busy traffic never make up half of the window's tries: 429s from most of
    the accounts in use, with no success of a try sent since, are enough."""
    breaker, clock = make(tmp_path)
    busy(breaker)  # on six accounts
    before = clock.now  # a long answer is under way when the throttle starts
    clock.now += 1
    verdicts = fail(breaker, ["a", "b", "a", "b"], kinds.RATE_LIMITED, 429)
    assert breaker.state == CLOSED and not any(v.upstream for v in verdicts)
    breaker.record_success("d", "long", started=before)  # it ends well: says nothing new
    (last,) = fail(breaker, ["c"], kinds.RATE_LIMITED, 429)  # half of the six accounts
    assert breaker.state == OPEN and breaker.reason == THROTTLED and last.upstream
    assert sorted(set(last.absolved)) == [("a", "fast"), ("b", "fast"), ("c", "fast")]


def test_a_throttle_opens_it_in_a_pool_smaller_than_min_failures(tmp_path) -> None:
    """Four accounts give four 429s, then none is left to try: fewer than the six failures
    the other groups need, but every account in use."""
    breaker, clock = make(tmp_path)
    for account in "wxyz":
        breaker.record_success(account, "ok")
    clock.now += 1
    assert not any(v.upstream for v in fail(breaker, ["w", "x"], kinds.RATE_LIMITED, 429))
    (verdict,) = fail(breaker, ["y"], kinds.RATE_LIMITED, 429)
    assert breaker.state == OPEN and breaker.reason == THROTTLED and verdict.upstream


def test_accounts_running_out_one_after_another_are_no_throttle(tmp_path) -> None:
    """Accounts whose quota ends while tries on the others still succeed: their own 429s."""
    breaker, clock = make(tmp_path)
    busy(breaker)
    for account in ACCOUNTS:
        clock.now += 0.5
        verdicts = fail(breaker, [account, account], kinds.RATE_LIMITED, 429)
        assert not any(v.upstream for v in verdicts)
        breaker.record_success("z", "ok", started=clock.now)  # sent after those 429s
    assert breaker.state == CLOSED


def test_a_throttle_during_an_outage_is_the_egress_too(tmp_path) -> None:
    """Open for grok.com's 5xx, the 429s of the tries still under way are the outage's, on
    one account as on several: none of them cools its account."""
    breaker, _ = make(tmp_path)
    fail(breaker, ACCOUNTS)
    assert breaker.state == OPEN and breaker.reason == UNAVAILABLE
    verdicts = fail(breaker, ["a", "b", "c"], kinds.RATE_LIMITED, 429)
    assert all(v.upstream for v in verdicts)
    assert breaker.reason == UNAVAILABLE  # still open for the outage


def test_opening_lifts_the_429s_met_since_the_last_success(tmp_path) -> None:
    """429s on two accounts (too few for a throttle), then grok.com's 5xx open the breaker:
    no try has succeeded since those 429s, so they were the outage's too. A 429 met before
    a success stays its account's."""
    breaker, clock = make(tmp_path)
    busy(breaker)
    clock.now += 1
    (before,) = fail(breaker, ["a"], kinds.RATE_LIMITED, 429)
    clock.now += 1
    breaker.record_success("f", "ok", started=clock.now)  # grok.com still answers
    clock.now += 1
    during = fail(breaker, ["b", "c"], kinds.RATE_LIMITED, 429)
    assert not before.upstream and not any(v.upstream for v in during)
    verdicts = fail(breaker, ACCOUNTS * 60)
    assert breaker.state == OPEN and breaker.reason == UNAVAILABLE
    opened = next(v for v in verdicts if v.absolved)
    assert sorted(opened.absolved) == [("b", "fast"), ("c", "fast")]
