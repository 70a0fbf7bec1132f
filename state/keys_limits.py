"""The limits of the client keys, judged in memory on the request path.

Each process keeps, per (key, bucket), the shared total it last read (`shared`) and its own
increments not yet sent (`pending`); a request is judged on their sum, with no I/O. A
background task (`state.keys_service`) sends the increments and reads the totals back every
`keys.sync_interval_sec`, through Redis when there is one, else through the database. So a
limit holds across workers and instances to within what the other processes admit during
one sync interval.

Buckets: `d:YYYY-MM-DD` (UTC day) holds the daily counts per kind and the tokens; `m:<minute>`
(minutes since the epoch) holds the requests of that minute. Requests per minute are judged
on a sliding window: the previous minute's count weighted by how much of it is still within
the last 60 s, plus the current minute's. Concurrent requests are this process's open
requests plus the other processes' as last read (with Redis; without it they are per
process).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from state.keys import KeyRecord
from state.keys_store import COUNTER_FIELDS

__all__ = ["Admission", "KeyCounters", "Refusal", "day_bucket", "minute_bucket"]

Bucket = tuple[str, str]
_F = {name: i for i, name in enumerate(COUNTER_FIELDS)}
REQUESTS = _F["requests"]
TOKENS = _F["tokens"]
#: How long a bucket's shared row outlives its window (ms): a day bucket stays for the
#: admin's "yesterday", a minute bucket only as the sliding window's previous minute.
DAY_TTL_MS = 2 * 86_400_000
MINUTE_TTL_MS = 180_000
#: Retry-After of a request refused for concurrency: an open request usually ends soon.
CONCURRENCY_RETRY_AFTER = 1


_day_cache: tuple[int, str] = (-1, "")


def day_bucket(now: float) -> str:
    """`d:YYYY-MM-DD` of `now` (UTC); formatted once per day, not per request."""
    global _day_cache
    day = int(now // 86_400)
    cached = _day_cache
    if cached[0] == day:
        return cached[1]
    name = "d:" + time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    _day_cache = (day, name)
    return name


def minute_bucket(minute: int) -> str:
    return f"m:{minute}"


def bucket_expiry(bucket: str, now: float) -> int:
    return int(now * 1000) + (DAY_TTL_MS if bucket.startswith("d:") else MINUTE_TTL_MS)


def seconds_to_midnight(now: float) -> float:
    return 86_400 - now % 86_400


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is over a limit: the error code, a message, and when to retry."""

    code: str
    message: str
    retry_after: float


@dataclass(slots=True)
class Admission:
    """A request let in: what it was charged, to settle or refund when it ends."""

    key_id: str
    day: str
    charges: dict[str, int] = field(default_factory=dict)
    concurrent: bool = False
    settled: bool = False


class KeyCounters:
    def __init__(self) -> None:
        self.shared: dict[Bucket, list[int]] = {}
        self.pending: dict[Bucket, list[int]] = {}
        #: increments being sent: still counted until the totals that include them arrive
        self.sending: dict[Bucket, list[int]] = {}
        #: open requests of this process per key, and the other processes' (Redis)
        self.local: dict[str, int] = {}
        self.peers: dict[str, int] = {}
        #: key id → when this process last let one of its requests in (ms)
        self.used: dict[str, int] = {}

    # ------------------------------------------------------------------ reading
    def count(self, key_id: str, bucket: str, index: int) -> int:
        n = 0
        for table in (self.shared, self.sending, self.pending):
            row = table.get((key_id, bucket))
            if row is not None:
                n += row[index]
        return n

    def day_counts(self, key_id: str, now: float | None = None) -> dict[str, int]:
        """Today's counts of a key, as far as this process knows."""
        day = day_bucket(time.time() if now is None else now)
        return {name: self.count(key_id, day, i) for name, i in _F.items()}

    def concurrency(self, key_id: str) -> int:
        return self.local.get(key_id, 0) + self.peers.get(key_id, 0)

    def rpm_estimate(self, key_id: str, now: float) -> tuple[float, int, int, float]:
        """(estimate, current minute's count, previous minute's, elapsed fraction)."""
        minute = int(now // 60)
        frac = (now - minute * 60) / 60
        cur = self.count(key_id, minute_bucket(minute), REQUESTS)
        prev = self.count(key_id, minute_bucket(minute - 1), REQUESTS)
        return prev * (1 - frac) + cur, cur, prev, frac

    # ------------------------------------------------------------------ judging
    def admit(self, rec: KeyRecord, charges: dict[str, int],
              now: float | None = None) -> Admission | Refusal:
        """Judge every limit of `rec` first, then charge them all (nothing is charged for a
        refused request)."""
        now = time.time() if now is None else now
        policy, key_id = rec.policy, rec.id
        if policy.max_concurrency is not None and \
                self.concurrency(key_id) >= policy.max_concurrency:
            return Refusal("concurrency_exceeded",
                           f"Too many concurrent requests for this API key "
                           f"(max_concurrency {policy.max_concurrency})",
                           CONCURRENCY_RETRY_AFTER)
        if policy.rpm is not None:
            estimate, cur, prev, frac = self.rpm_estimate(key_id, now)
            if estimate + 1 > policy.rpm:
                return Refusal("rpm_exceeded", f"Rate limit of this API key reached "
                               f"({policy.rpm} requests per minute)",
                               _rpm_wait(policy.rpm, cur, prev, frac))
        day = day_bucket(now)
        for kind, n in charges.items():
            limit = policy.limit(kind)
            if limit is not None and self.count(key_id, day, _F[kind]) + n > limit:
                return Refusal("daily_quota_exceeded", f"Daily quota exceeded: {kind} "
                               f"({limit} per day)", seconds_to_midnight(now))
        limit = policy.limit("tokens")
        if limit is not None and self.count(key_id, day, TOKENS) >= limit:
            return Refusal("token_quota_exceeded",
                           f"Daily token quota exceeded ({limit} tokens per day)",
                           seconds_to_midnight(now))
        # let in: charge
        self.used[key_id] = int(now * 1000)
        if policy.rpm is not None:
            # only an rpm reads the minute buckets: without one they would be synced every
            # interval for nothing (a key given an rpm later starts from an empty minute)
            self._add(key_id, minute_bucket(int(now // 60)), REQUESTS, 1)
        for kind, n in charges.items():
            self._add(key_id, day, _F[kind], n)
        admission = Admission(key_id, day, dict(charges))
        if policy.max_concurrency is not None:
            self.local[key_id] = self.local.get(key_id, 0) + 1
            admission.concurrent = True
        return admission

    def settle(self, admission: Admission, tokens: int, failed: bool) -> None:
        """The request ended: its slot is free, its tokens counted; a failed request's daily
        charges are given back (it used nothing), its minute's request stays counted."""
        if admission.settled:
            return
        admission.settled = True
        if admission.concurrent:
            left = self.local.get(admission.key_id, 0) - 1
            if left > 0:
                self.local[admission.key_id] = left
            else:
                self.local.pop(admission.key_id, None)
        if tokens > 0:
            self._add(admission.key_id, admission.day, TOKENS, tokens)
        if failed:
            for kind, n in admission.charges.items():
                self._add(admission.key_id, admission.day, _F[kind], -n)

    def _add(self, key_id: str, bucket: str, index: int, n: int) -> None:
        row = self.pending.get((key_id, bucket))
        if row is None:
            row = self.pending[(key_id, bucket)] = [0] * len(COUNTER_FIELDS)
        row[index] += n

    # ------------------------------------------------------------------ sync
    def drain(self) -> dict[Bucket, list[int]]:
        """The increments to send now; they count as `sending` until `take_totals`."""
        self.restore(self.sending)
        self.sending, self.pending = self.pending, {}
        return self.sending

    def restore(self, deltas: dict[Bucket, list[int]]) -> None:
        """Put back increments whose sending failed."""
        if deltas is self.sending:
            self.sending = {}
        for bucket, values in deltas.items():
            row = self.pending.setdefault(bucket, [0] * len(COUNTER_FIELDS))
            for i, v in enumerate(values):
                row[i] += v

    def take_totals(self, totals: dict[Bucket, list[int]], watched: list[Bucket]) -> None:
        """The shared totals just read (they include every increment sent so far); buckets
        no longer watched are forgotten."""
        zero = [0] * len(COUNTER_FIELDS)
        self.shared = {b: list(totals.get(b, zero)) for b in watched}
        self.sending = {}


def _rpm_wait(rpm: int, cur: int, prev: int, frac: float) -> float:
    """Seconds until the sliding estimate lets one more request in, if no other comes."""
    room = rpm - 1
    if room < 0:
        return 60.0
    if cur <= room and prev > 0:
        need = 1 - (room - cur) / prev  # elapsed fraction at which prev·(1−f) + cur ≤ room
        return max(1.0, (need - frac) * 60)
    if cur > 0:
        need = 1 - room / cur  # in the next minute, this one weighs cur·(1−f)
        return max(1.0, math.ceil(((1 - frac) + need) * 60))
    return 1.0
