"""The upstream circuit breaker: while grok.com (or the gateway's egress) fails for every
account, stop sending and answer clients at once with the error class it has been giving.

An outage says nothing about the account a request happened to use, so it never takes accounts
out of the pool; without a breaker every client would still wait for its own failure, and
failover would spread each one over several accounts. The breaker watches the outcome of the
recent tries of this process across accounts:

* **closed**: everything passes. Each outcome goes into a sliding window of
  `breaker.window_sec`. When one group of failures (below) reaches `breaker.min_failures`
  tries, on at least `breaker.min_accounts` different accounts, and makes up at least
  `breaker.failure_ratio` of the window's tries, the breaker opens. 429s are judged by
  accounts instead: each one takes its account's mode out of rotation, so an egress throttle
  stops the very tries that would make up that share or that number (a pool smaller than
  `breaker.min_failures` never could). They open it when they came from at least
  `breaker.min_accounts` accounts and `breaker.failure_ratio` of the accounts tried in the
  window, with no success of a try sent since (accounts running out of quota one after
  another show successes on the others in between). One bad account can never open it, nor
  can client errors or an account's own failures (they are not in a group);
* **open**: for `breaker.open_sec` nothing is sent: clients get the group's error at once,
  with `Retry-After`;
* **half-open**: then one request at a time goes through as a probe. Its first content closes
  the breaker; its failure in a group opens it again for twice as long (up to
  `breaker.max_open_sec`); any other ending (a client error, an account's failure, a client
  that left) lets the next request probe.

A 429 met while grok.com fails for everyone says nothing about its account's quota: the
failures of tries still under way while the breaker is open are all the outage's, and when
it opens, the 429s met since the latest try that then succeeded was sent have their
accounts' cooldowns lifted (`Verdict.absolved`). Wrongly sparing an account that did run out
costs one failed try once grok.com is back; wrongly cooling a healthy one would take it out
for its whole cooldown.

Groups: `unavailable` (upstream 5xx, connections refused or cut, stalled streams and other
timeouts), `challenge` (Cloudflare interstitials, anti-bot refusals), `throttled` (429s on
many accounts at once: a limit on the gateway's IP or proxy rather than on one account's
quota, so the accounts those 429s cooled are let off).

The state lives in memory, one breaker per process (each Hypercorn worker learns from its own
traffic); nothing here does I/O.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from addons.upstream import classify as kinds
from state.options import Loader

__all__ = ["CHALLENGE", "CLOSED", "HALF_OPEN", "OPEN", "THROTTLED", "UNAVAILABLE",
           "CircuitBreaker", "Refusal", "Verdict", "group_of"]

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
UNAVAILABLE, CHALLENGE, THROTTLED = "unavailable", "challenge", "throttled"
GROUPS: tuple[str, ...] = (UNAVAILABLE, CHALLENGE, THROTTLED)

_GROUP_OF_KIND: dict[str, str] = {
    kinds.SERVER_ERROR: UNAVAILABLE,
    kinds.CONNECTION: UNAVAILABLE,
    kinds.TIMEOUT: UNAVAILABLE,
    kinds.CHALLENGE: CHALLENGE,
    kinds.ANTI_BOT: CHALLENGE,
    kinds.RATE_LIMITED: THROTTLED,
}
#: The client's status while open on `unavailable`, from the upstream statuses seen.
_UNAVAILABLE_STATUS = {500: 502, 502: 502, 503: 503, 504: 504}
#: Most outcomes the window keeps, whatever its span (memory stays bounded under load).
MAX_CALLS = 4096
#: A probe that has shown nothing for this long no longer holds the half-open slot (its flow
#: is closed by then in any sane run; this only guards against a leak).
PROBE_STALE_SEC = 60.0
#: What a refused client is told to wait while a probe is out.
PROBE_RETRY_AFTER_SEC = 1.0


def group_of(kind: str) -> str | None:
    """The breaker group of a failure kind (`addons.upstream.classify`), None if it counts
    for nothing here (about the account or the request)."""
    return _GROUP_OF_KIND.get(kind)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the breaker makes of one failed try.

    `upstream`: the failure is blamed on grok.com or the egress as a whole, not on the account
    it happened on. `absolved`: the keys of earlier failures now blamed the same way (the
    throttle's 429s, whose account cooldowns can be lifted)."""

    upstream: bool = False
    absolved: tuple[Hashable, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a try may not be sent now: the client's status, the group and the wait."""

    status: int
    reason: str
    retry_after: float


@dataclass(slots=True)
class _Call:
    at: float
    group: str | None  # None: a success, or a failure no group counts
    account: str
    status: int
    key: Hashable | None  # what to absolve if a throttle takes the blame


class CircuitBreaker:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("breaker.enabled", bool, True,
                          "Upstream circuit breaker: while grok.com fails the same way for "
                          "several accounts at once (5xx, broken or stalled streams, Cloudflare "
                          "challenges, 429s on many accounts), stop sending for a short, growing "
                          "interval and answer clients at once with that error class and "
                          "Retry-After; single probes then test recovery. Per process.")
        loader.add_option("breaker.window_sec", float, 30.0,
                          "Span in seconds of the recent tries the breaker judges.")
        loader.add_option("breaker.min_failures", int, 6,
                          "Failures of one kind within the window needed to open the breaker.")
        loader.add_option("breaker.min_accounts", int, 3,
                          "Different accounts those failures must span (one bad account never "
                          "opens the breaker).")
        loader.add_option("breaker.failure_ratio", float, 0.5,
                          "Share of the window's tries those failures must make up (0-1). "
                          "429s, each of which takes its account out of rotation, may instead "
                          "come from this share of the accounts tried in the window, with no "
                          "success of a try sent since.")
        loader.add_option("breaker.open_sec", float, 5.0,
                          "Seconds the breaker holds requests back when it opens; doubled each "
                          "time a probe fails.")
        loader.add_option("breaker.max_open_sec", float, 60.0,
                          "Longest the breaker holds requests back at a time, in seconds.")

    def __init__(self, settings: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self.state = CLOSED
        #: The group that opened the breaker, and the status clients get meanwhile.
        self.reason: str | None = None
        self.status: int | None = None
        self.trips = 0
        self._interval = 0.0
        self._opened_at = 0.0
        self._open_until = 0.0
        self._probe: str | None = None  # the flow holding the half-open slot
        #: the probe that closed the breaker at its first content, until its flow ends: if
        #: its answer then fails (cut, truncated), grok.com is not back after all
        self._closed_by: str | None = None
        self._probe_since = 0.0
        #: When the latest try that then succeeded was sent: 429s after it are a throttle
        #: once they span enough accounts (see `_throttle_run`).
        self._clean_since = float("-inf")
        self._tried: Counter[str] = Counter()  # the window's tries per account
        self._calls: deque[_Call] = deque()
        self._failures: Counter[str] = Counter()
        self._accounts: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
        self._statuses: dict[str, Counter[int]] = {g: Counter() for g in GROUPS}

    @property
    def enabled(self) -> bool:
        return self.settings.options.breaker.enabled

    def now(self) -> float:
        """The breaker's clock (a try's start time is passed back in `record_success`)."""
        return self._clock()

    # ------------------------------------------------------------------ admission
    def check(self, flow_id: str) -> Refusal | None:
        """May `flow_id` send a try now? None: yes (closed, or it is the half-open probe)."""
        if self.state == CLOSED:
            return None
        if not self.enabled:
            self._close("turned off")
            return None
        now = self._clock()
        if self.state == OPEN:
            if now < self._open_until:
                return Refusal(self.status or 502, self.reason or UNAVAILABLE,
                               self._open_until - now)
            self.state = HALF_OPEN
            log.info("upstream circuit breaker half-open: the next request probes grok.com")
        if self._probe is None or self._probe == flow_id \
                or now - self._probe_since > PROBE_STALE_SEC:
            if self._probe != flow_id:
                self._probe, self._probe_since = flow_id, now
            return None
        return Refusal(self.status or 502, self.reason or UNAVAILABLE, PROBE_RETRY_AFTER_SEC)

    def is_probe(self, flow_id: str) -> bool:
        return self.state == HALF_OPEN and self._probe == flow_id

    def release(self, flow_id: str) -> None:
        """The flow ended without saying whether grok.com is back: the next request probes."""
        if self._probe == flow_id:
            self._probe = None
        if self._closed_by == flow_id:
            self._closed_by = None

    # ------------------------------------------------------------------ outcomes
    def record_success(self, account: str, flow_id: str, started: float | None = None) -> None:
        """A try got its whole answer; `started`: when it was sent (`now()` then; None: now).
        The half-open probe's closes the breaker."""
        now = self._clock()
        self._clean_since = max(self._clean_since, now if started is None else started)
        self._add(_Call(now, None, account, 200, None), now)
        self.probe_answered(flow_id)

    def probe_answered(self, flow_id: str) -> None:
        """The half-open probe's answer started: grok.com answers again, the breaker closes.
        Not yet a success: should that answer fail before it ends, the breaker reopens."""
        if self.state == HALF_OPEN and self._probe == flow_id:
            self._close(f"a probe succeeded after {self._clock() - self._opened_at:.1f} s")
            self._closed_by = flow_id

    def record_failure(self, kind: str, status: int, account: str, flow_id: str,
                       key: Hashable | None = None) -> Verdict:
        """A try failed with `kind` (`addons.upstream.classify`) and upstream `status` on
        `account`; `key` names it for a later absolution (see `Verdict`)."""
        group = group_of(kind) if self.enabled else None
        now = self._clock()
        self._add(_Call(now, group, account, status, key if group == THROTTLED else None), now)
        if group is None:
            self.release(flow_id)
            return Verdict()
        if self.state == CLOSED and self._closed_by == flow_id:
            # the probe's answer started, then failed: grok.com was never back. Reopen as
            # after a failed probe
            self._closed_by = None
            absolved = self._absolved(group)
            self._trip(group, now, again=True)
            return Verdict(upstream=True, absolved=absolved)
        if self.state == HALF_OPEN and self._probe == flow_id:
            self._trip(group, now, again=True)
            return Verdict(upstream=True)
        if self.state != CLOSED:  # a try sent before it opened: the same outage
            return Verdict(upstream=True)
        if not self._should_trip(group):
            return Verdict()
        absolved = self._absolved(group)
        self._trip(group, now, again=False)
        return Verdict(upstream=True, absolved=absolved)

    def _absolved(self, group: str) -> tuple[Hashable, ...]:
        """What opening on `group` absolves: the window's failures of that group (a
        throttle's 429s) and every 429 met since the latest try that then succeeded was sent
        (grok.com was failing already). Only 429s carry a key."""
        clean_since = self._clean_since
        return tuple(c.key for c in self._calls
                     if c.key is not None and (c.group == group or c.at > clean_since))

    # ------------------------------------------------------------------ view
    def snapshot(self) -> dict[str, Any]:
        """The state as `/health` shows it."""
        now = self._clock()
        self._evict(now)
        wait = 0.0
        if self.state == OPEN:
            wait = max(0.0, self._open_until - now)
        return {
            "state": self.state,
            "reason": self.reason,
            "status": self.status,
            "retry_after_sec": round(wait, 3),
            "open_interval_sec": round(self._interval, 3),
            "trips": self.trips,
            "window": {"tries": len(self._calls),
                       "failures": {g: self._failures[g] for g in GROUPS},
                       "accounts": {g: len(self._accounts[g]) for g in GROUPS}},
        }

    # ------------------------------------------------------------------ internals
    def _add(self, call: _Call, now: float) -> None:
        self._evict(now)
        if len(self._calls) >= MAX_CALLS:
            self._forget(self._calls.popleft())
        self._calls.append(call)
        self._tried[call.account] += 1
        if call.group is not None:
            self._failures[call.group] += 1
            self._accounts[call.group][call.account] += 1
            self._statuses[call.group][call.status] += 1

    def _evict(self, now: float) -> None:
        horizon = now - max(0.0, self.settings.options.breaker.window_sec)
        calls = self._calls
        while calls and calls[0].at < horizon:
            self._forget(calls.popleft())

    def _forget(self, call: _Call) -> None:
        self._tried[call.account] -= 1
        if self._tried[call.account] <= 0:
            del self._tried[call.account]
        if call.group is None:
            return
        self._failures[call.group] -= 1
        for counter, item in ((self._accounts[call.group], call.account),
                              (self._statuses[call.group], call.status)):
            counter[item] -= 1
            if counter[item] <= 0:
                del counter[item]

    def _should_trip(self, group: str) -> bool:
        opts = self.settings.options.breaker
        failures = self._failures[group]
        if len(self._accounts[group]) < max(1, opts.min_accounts):
            return False
        if (failures >= max(1, opts.min_failures)
                and failures >= opts.failure_ratio * len(self._calls)):
            return True
        return group == THROTTLED and self._throttle_run()

    def _throttle_run(self) -> bool:
        """429s from most of the accounts in use, with no success of a try sent after them.

        Each 429 takes its account's mode out of rotation, so a throttle of the egress stops
        the tries that would let its 429s make up most of the window, or reach
        `min_failures` in a small pool; accounts running out of quota one after another show
        successes on the others in between. Walks back from the newest try only as far as
        the latest successful try's start."""
        opts = self.settings.options.breaker
        need = max(1, opts.min_accounts, math.ceil(opts.failure_ratio * len(self._tried)))
        accounts: set[str] = set()
        for call in reversed(self._calls):
            if call.at <= self._clean_since:
                break
            if call.group == THROTTLED:
                accounts.add(call.account)
                if len(accounts) >= need:
                    return True
        return False

    def _client_status(self, group: str) -> int:
        if group == THROTTLED:
            return 429
        if group == CHALLENGE:
            return 503
        seen = Counter()
        for status, count in self._statuses[UNAVAILABLE].items():
            seen[_UNAVAILABLE_STATUS.get(status, 502)] += count
        if seen:
            return seen.most_common(1)[0][0]
        return self.status if self.reason == group and self.status else 502

    def _trip(self, group: str, now: float, *, again: bool) -> None:
        opts = self.settings.options.breaker
        first = max(0.001, opts.open_sec)
        grown = max(self._interval, first) * 2 if again else first
        self._interval = min(max(first, opts.max_open_sec), grown)
        self.status = self._client_status(group)
        self.state, self.reason = OPEN, group
        self._opened_at = self._opened_at if again else now
        self._open_until = now + self._interval
        self._probe = None
        self.trips += 1
        log.warning("upstream circuit breaker open for %.1f s: %s (%s); clients get %d with "
                    "Retry-After", self._interval, group,
                    "a probe failed" if again else
                    f"{self._failures[group]} failures on {len(self._accounts[group])} accounts "
                    f"among {len(self._calls)} tries in {opts.window_sec:g} s",
                    self.status)

    def _close(self, why: str) -> None:
        if self.state != CLOSED:
            log.info("upstream circuit breaker closed: %s", why)
        self.state, self.reason, self.status = CLOSED, None, None
        self._interval = 0.0
        self._probe = None
        self._calls.clear()
        self._tried.clear()
        self._failures.clear()
        for group in GROUPS:
            self._accounts[group].clear()
            self._statuses[group].clear()
