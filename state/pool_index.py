"""The selection index of the account pool, so that leasing an account costs a few ordered-list
operations instead of a pass over every account (pools hold up to 100,000 accounts).

Accounts are bucketed by (pool, mode). Each bucket holds:

* `ranked`: the accounts the quota strategy may lease now (active, under the in-flight cap,
  quota left in the mode), ordered by their score without the time-dependent recency term,
  highest first, then least recently used, then in the order they joined the pool. The
  recency term only ever lowers a score, by at most `RECENCY_PENALTY`, so a walk from the top
  can stop at the first score below the best one found (see `best`);
* `free`: the accounts the random strategy may lease now (quota ignored), for a uniform draw;
* `full_ranked` / `full_free`: the accounts held back only by the in-flight cap (a request that
  finds nothing while one of these exists waits for a lease to end instead of failing);
* `wakes`: a timer heap of when a held-back account may change on its own, with no call telling
  the pool: a cooldown ends, a quota window resets.

`place(acc)` puts an account where its current fields say it belongs, in every bucket of its
pool; the pool calls it after every change (its `_mark`). A caller that edits an account's
fields directly must tell the pool too (`AccountPool.refresh`); the walks also re-check every
entry they look at, so a missed update can only cost a better choice, never a wrong lease.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Collection, Iterable
from typing import Any

from sortedcontainers import SortedList

from state.account import TIER_MODES, Account, now_ms

__all__ = ["RECENCY_MS", "RECENCY_PENALTY", "SelectionIndex", "static_score"]

#: An account used less than this long ago is penalised in the score, in ms.
RECENCY_MS = 15_000
#: The largest recency penalty (an account used this very moment).
RECENCY_PENALTY = 15.0
_AFTER = float("inf")  # sorts after every (last use, order) pair of a score group


def static_score(acc: Account, remaining: int, inflight: int) -> float:
    """`100·health + 25·remaining − 20·inflight − 4·min(fails,10)`: the selection score
    without recency, computed in the same order of operations as `state.pool.score`, so that
    equal scores compare equal."""
    fails = acc.consecutive_failures
    return (100.0 * acc.health + 25.0 * remaining) - (20.0 * inflight + 4.0 * (fails if fails < 10 else 10))


def recency(last: int, now: int) -> float:
    if last and now - last < RECENCY_MS:
        return RECENCY_PENALTY * (1.0 - max(0, now - last) / RECENCY_MS)
    return 0.0


class RandomSet:
    """A set with O(1) add, discard and uniform choice (a list plus each item's position)."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[Account] = []
        self.pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, token: str) -> bool:
        return token in self.pos

    def add(self, acc: Account) -> bool:
        if acc.token in self.pos:
            return False
        self.pos[acc.token] = len(self.items)
        self.items.append(acc)
        return True

    def discard(self, token: str) -> None:
        i = self.pos.pop(token, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last.token] = i


class Bucket:
    __slots__ = ("full_free", "full_ranked", "free", "keys", "ranked", "wake_at", "wakes")

    def __init__(self) -> None:
        #: (−score, last use, order, account), ascending = best first.
        self.ranked: SortedList = SortedList()
        self.keys: dict[str, tuple[float, int, int, Account]] = {}
        self.free = RandomSet()
        self.full_ranked: set[str] = set()
        self.full_free: set[str] = set()
        #: (when in ms, order, account); an entry is current only while `wake_at` agrees.
        self.wakes: list[tuple[int, int, Account]] = []
        self.wake_at: dict[str, int] = {}

    def drop(self, token: str) -> None:
        key = self.keys.pop(token, None)
        if key is not None:
            self.ranked.remove(key)
        self.free.discard(token)
        self.full_ranked.discard(token)
        self.full_free.discard(token)
        self.wake_at.pop(token, None)


class SelectionIndex:
    def __init__(self, cap: int = 8) -> None:
        #: The in-flight cap the buckets were built for; another cap rebuilds them.
        self.cap = cap
        self.buckets: dict[tuple[str, str], Bucket] = {
            (pool, mode): Bucket() for pool, modes in TIER_MODES.items() for mode in modes}
        #: token → (pool whose buckets hold it, its order in the pool).
        self._placed: dict[str, tuple[str, int]] = {}
        self._seq = 0

    # ------------------------------------------------------------------ membership
    def join(self, acc: Account, now: int | None = None) -> None:
        """`acc` joined its pool (loaded, added, moved): it ranks after the accounts already
        there among equals, as a scan of the pool in insertion order would have it."""
        self.leave(acc)
        self._seq += 1
        self._placed[acc.token] = (acc.pool, self._seq)
        self.place(acc, now)

    def leave(self, acc: Account) -> None:
        where = self._placed.pop(acc.token, None)
        if where is None:
            return
        for mode in TIER_MODES.get(where[0], ()):
            self.buckets[(where[0], mode)].drop(acc.token)

    def rebuild(self, accounts: Iterable[Account], cap: int, now: int | None = None) -> None:
        """Place every account anew (a new table or another in-flight cap), sorting each
        bucket once instead of inserting one by one."""
        order = {t: seq for t, (_, seq) in self._placed.items()}
        self.cap = cap
        self.buckets = {key: Bucket() for key in self.buckets}
        self._placed = {}
        pending: dict[tuple[str, str], list[tuple[float, int, int, Account]]] = {
            key: [] for key in self.buckets}
        for acc in accounts:
            seq = order.get(acc.token)
            if seq is None:
                self._seq += 1
                seq = self._seq
            self._placed[acc.token] = (acc.pool, seq)
            self._place(acc, acc.pool, seq, pending, now)
        for key, entries in pending.items():
            bucket = self.buckets[key]
            bucket.ranked = SortedList(entries)
            bucket.keys = {e[3].token: e for e in entries}

    def place(self, acc: Account, now: int | None = None) -> bool:
        """Put `acc` where its fields say at `now` (ms; the clock when None); True if it
        became leasable somewhere it was not (a waiting request may now be served)."""
        where = self._placed.get(acc.token)
        if where is None:
            return False
        if where[0] != acc.pool:  # moved without `join`: follow it
            self.join(acc)
            return True
        return self._place(acc, where[0], where[1], None, now)

    def _place(self, acc: Account, pool: str, seq: int,
               pending: dict[tuple[str, str], list[Any]] | None,
               now: int | None = None) -> bool:
        # the one place that says what makes an account leasable
        token = acc.token
        live = acc.deleted_at is None and not acc.runtime_expired
        account_ready = live and acc.status == "active"
        cooling_until: int | None = None
        if live and acc.status == "cooling":
            cooling_until = acc.cooldown_until or 0
        inflight = acc.local_inflight + acc.peer_inflight
        under_cap = inflight < self.cap
        last = acc.last_use_at or 0
        opened = False
        now = now_ms() if now is None else now  # callers pass the pool's clock
        for mode in TIER_MODES.get(pool, ()):
            bucket = self.buckets[(pool, mode)]
            win = acc.quota.get(mode) or acc.window(mode)
            assert win is not None
            remaining = win.remaining
            # a chat 429 holds this one mode out until its own time
            entry = acc.mode_cooldown(mode)
            mode_until = int(entry.get("until", 0)) if entry else 0
            ready = account_ready and mode_until <= now
            # ranked
            old = bucket.keys.get(token)
            key = None
            if ready and under_cap and remaining > 0:
                key = (-static_score(acc, remaining, inflight), last, seq, acc)
            if pending is not None:
                if key is not None:
                    pending[(pool, mode)].append(key)
            elif old != key:
                if old is not None:
                    bucket.ranked.remove(old)
                    del bucket.keys[token]
                if key is not None:
                    bucket.ranked.add(key)
                    bucket.keys[token] = key
                    opened = opened or old is None
            # random
            if ready and under_cap:
                opened = bucket.free.add(acc) or opened
            else:
                bucket.free.discard(token)
            # held back only by the cap
            if ready and not under_cap:
                bucket.full_free.add(token)
                if remaining > 0:
                    bucket.full_ranked.add(token)
                else:
                    bucket.full_ranked.discard(token)
            else:
                bucket.full_free.discard(token)
                bucket.full_ranked.discard(token)
            # when it may change on its own
            when = cooling_until
            if when is None and account_ready and mode_until > now:
                when = mode_until
            if when is None and ready and win.reset_at is not None:
                when = win.reset_at
            if when is None:
                bucket.wake_at.pop(token, None)
            elif bucket.wake_at.get(token) != when:
                bucket.wake_at[token] = when
                heapq.heappush(bucket.wakes, (when, seq, acc))
                if len(bucket.wakes) > 2 * len(bucket.wake_at) + 1024:
                    self._compact(bucket)
        return opened

    @staticmethod
    def _compact(bucket: Bucket) -> None:
        bucket.wakes = [w for w in bucket.wakes if bucket.wake_at.get(w[2].token) == w[0]]
        heapq.heapify(bucket.wakes)

    def _current(self, acc: Account, bucket: Bucket, key: tuple[float, int, int, Account],
                 mode: str, pool: str, now: int) -> bool:
        """The entry still says what the account's fields say (nobody changed them behind the
        pool's back)."""
        where = self._placed.get(acc.token)
        if where is None or where[0] != pool:
            return False
        inflight = acc.local_inflight + acc.peer_inflight
        win = acc.quota.get(mode)
        return (win is not None and win.remaining > 0 and inflight < self.cap
                and acc.status == "active" and acc.deleted_at is None and not acc.runtime_expired
                and not acc.mode_cooling(mode, now)
                and key[1] == (acc.last_use_at or 0)
                and key[0] == -static_score(acc, win.remaining, inflight))

    # ------------------------------------------------------------------ queries
    def due(self, pool: str, mode: str, now: int) -> list[Account]:
        """Accounts of the bucket whose cooldown ended or whose window reset by `now`."""
        bucket = self.buckets.get((pool, mode))
        if bucket is None:
            return []
        out: list[Account] = []
        wakes = bucket.wakes
        while wakes and wakes[0][0] <= now:
            when, _, acc = heapq.heappop(wakes)
            if bucket.wake_at.get(acc.token) == when:
                del bucket.wake_at[acc.token]
                out.append(acc)
        return out

    def next_wake(self, pool: str, mode: str) -> int | None:
        """The earliest time (ms) an account of the bucket may become leasable on its own."""
        bucket = self.buckets.get((pool, mode))
        if bucket is None:
            return None
        wakes = bucket.wakes
        while wakes and bucket.wake_at.get(wakes[0][2].token) != wakes[0][0]:
            heapq.heappop(wakes)
        return wakes[0][0] if wakes else None

    def best(self, pool: str, mode: str, now: int, skip: Collection[str]) -> Account | None:
        """The quota strategy's choice: the highest score (recency included), ties to the
        least recently used, then to the earlier member.

        Within a group of equal static scores the first entry not skipped has the least
        recency penalty, so it beats the rest of its group, and the walk jumps to the next
        group; a group whose static score is below the best score found cannot win (its
        score can only be lower), so the walk ends there."""
        bucket = self.buckets.get((pool, mode))
        if bucket is None:
            return None
        ranked = bucket.ranked
        while True:
            best: Account | None = None
            best_score = best_last = 0.0
            stale: Account | None = None
            i, n = 0, len(ranked)
            while i < n:
                key = ranked[i]
                neg, last, _, acc = key
                if best is not None and -neg < best_score:
                    break
                if acc.token in skip:
                    i += 1
                    continue
                if not self._current(acc, bucket, key, mode, pool, now):
                    stale = acc
                    break
                value = -neg - recency(last, now)
                if best is None or value > best_score or (value == best_score and last < best_last):
                    best, best_score, best_last = acc, value, last
                i = ranked.bisect_left((neg, _AFTER))
            if stale is None:
                return best
            self.place(stale, now)  # fix the entry and walk again

    def pick(self, pool: str, mode: str, skip: Collection[str],
             now: int | None = None) -> Account | None:
        """The random strategy's choice: uniform among the leasable accounts not skipped."""
        bucket = self.buckets.get((pool, mode))
        if bucket is None:
            return None
        free = bucket.free
        for _ in range(len(skip) + 8):  # rejection sampling stays uniform
            if not free.items:
                return None
            acc = random.choice(free.items)
            if acc.token in skip:
                continue
            if not self._ready(acc, pool, mode, now):
                self.place(acc, now)
                continue
            return acc
        for acc in list(free.items):  # mostly skipped: sort it out the long way
            if not self._ready(acc, pool, mode, now):
                self.place(acc, now)
        fits = [a for a in free.items if a.token not in skip]
        return random.choice(fits) if fits else None

    def _ready(self, acc: Account, pool: str, mode: str, now: int | None) -> bool:
        where = self._placed.get(acc.token)
        return (where is not None and where[0] == pool and acc.status == "active"
                and acc.deleted_at is None and not acc.runtime_expired
                and not acc.mode_cooling(mode, now_ms() if now is None else now)
                and acc.local_inflight + acc.peer_inflight < self.cap)

    def saturated(self, pool: str, mode: str, skip: Collection[str], by_quota: bool) -> bool:
        """An account not skipped that could serve but for the in-flight cap."""
        bucket = self.buckets.get((pool, mode))
        if bucket is None:
            return False
        full = bucket.full_ranked if by_quota else bucket.full_free
        if len(full) > len(skip):
            return True
        return any(t not in skip for t in full)
