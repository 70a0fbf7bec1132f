"""The account listing of the admin API, computed server-side for pools of 100,000 accounts:
filter, sort and page in one pass over a snapshot of the table; the counts of the filter chips
and stat cards in another (`tally`), kept for a moment between pages (`CountsCache`).

The pass runs on the event loop (the accounts live there) but hands the loop back every
`SLICE` accounts, so that serving the listing never holds up the requests being proxied for
more than a few milliseconds at a time. Without a sort only the rows up to the end of the
requested page in table order; a sort is one stable C-level sort of the sort values (ties keep
the table order, so paging through equal values is stable).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from collections import Counter
from operator import attrgetter
from typing import Any

from quart_app.admin.views import (
    DERIVED, FILTER_STATUSES, NSFW_TAG, account_view, derived_state, summary,
)
from state.account import POOLS, Account

__all__ = ["COUNTS_TTL", "SLICE", "SORT_KEYS", "CountsCache", "Listing", "list_accounts",
           "tally", "views"]

#: Accounts looked at between two turns of the event loop.
SLICE = 2000
#: Seconds the counts of the table are used as they are (`CountsCache`).
COUNTS_TTL = 2.0
#: Seconds a recount waits before it starts (`CountsCache.refresh`).
RECOUNT_DELAY = 0.25


def _remaining(acc: Account) -> int:
    return sum(w.remaining for w in acc.quota.values())


def _success_rate(acc: Account) -> float:
    """Successes over calls; an account never used sorts below one that always failed."""
    calls = acc.usage_use_count + acc.usage_fail_count
    return acc.usage_use_count / calls if calls else -1.0


def _or0(name: str) -> Callable[[Account], int]:
    get = attrgetter(name)
    return lambda a: get(a) or 0


#: What `sort` accepts: a field of the listing → the value it orders by (None sorts first).
#: Plain attributes go through `attrgetter` (C), the rest through a small function.
SORT_KEYS: dict[str, Callable[[Account], Any]] = {
    "token": attrgetter("token"),
    "pool": lambda a: POOLS.index(a.pool) if a.pool in POOLS else len(POOLS),
    "status": attrgetter("status"),
    "created_at": _or0("created_at"),
    "updated_at": _or0("updated_at"),
    "last_used_at": _or0("last_use_at"),
    "last_fail_at": _or0("last_fail_at"),
    "last_sync_at": _or0("last_sync_at"),
    "use_count": attrgetter("usage_use_count"),
    "fail_count": attrgetter("usage_fail_count"),
    "success_rate": _success_rate,
    "consecutive_failures": attrgetter("consecutive_failures"),
    "remaining": _remaining,
    "inflight": attrgetter("inflight"),
}


@dataclass(slots=True)
class Listing:
    rows: list[Account]
    total: int
    counts: dict[str, Any]


class CountsCache:
    """The last counts of the table. Within `ttl` seconds they are used as they are; older
    ones are still served while one recount runs behind the answer (`refresh`), so a page
    never waits for a pass over 100,000 accounts just because the reader paused. An
    operator's change forgets them (`forget`, after every admin write): the next page counts
    afresh and shows its own change at once; what requests change (cooling, quota) shows
    within `ttl` plus one page."""

    def __init__(self, ttl: float = COUNTS_TTL) -> None:
        self.ttl = ttl
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._generation = 0  # bumped by forget: a recount begun before it is dropped
        self._refreshing: asyncio.Task[None] | None = None

    def get(self) -> dict[str, Any] | None:
        """The last counts however old (None after `forget` or before the first count)."""
        return self._value

    def stale(self) -> bool:
        return time.monotonic() - self._at >= self.ttl

    def put(self, value: dict[str, Any]) -> None:
        self._value, self._at = value, time.monotonic()

    def forget(self) -> None:
        self._value = None
        self._generation += 1

    def expire(self) -> None:
        """Age the counts past the ttl (the benchmark's paused reader)."""
        self._at = 0.0

    async def settled(self) -> None:
        """Return once no recount runs."""
        if self._refreshing is not None:
            await asyncio.gather(self._refreshing, return_exceptions=True)

    def refresh(self, count: Callable[[], Any]) -> None:
        """Recount behind the answer, once at a time; `count()` is the coroutine."""
        if self._refreshing is not None and not self._refreshing.done():
            return
        generation = self._generation

        async def run() -> None:
            # after the answer that asked for it has gone out: interleaved with that
            # request's own pass, the recount would delay the very page it spares
            await asyncio.sleep(RECOUNT_DELAY)
            value = await count()
            if generation == self._generation:
                self.put(value)

        self._refreshing = asyncio.get_running_loop().create_task(run(), name="admin-counts")


async def tally(accounts: Sequence[Account], now: int) -> dict[str, Any]:
    """`views.counts` of the table, in slices: plain lists appended to in the loop and
    counted once at the end by `Counter` (C), the cheapest way found to count 100,000."""
    deleted = nsfw = successes = failures = 0
    states: list[str] = []
    stored: list[str] = []
    pools: list[str] = []
    tags: list[str] = []
    remaining: dict[str, int] = {}
    add_state, add_stored, add_pool, add_tags = (states.append, stored.append, pools.append,
                                                 tags.extend)
    for first in range(0, len(accounts), SLICE):
        if first:
            await asyncio.sleep(0)  # let the proxied requests run
        for acc in accounts[first:first + SLICE]:
            if acc.deleted_at is not None:
                deleted += 1
                continue
            state = derived_state(acc, now)
            add_state(state)
            add_stored(acc.status)
            add_pool(acc.pool)
            if acc.tags:
                add_tags(acc.tags)
                nsfw += NSFW_TAG in acc.tags
            successes += acc.usage_use_count
            failures += acc.usage_fail_count
            if state == "active":
                for mode, win in acc.quota.items():
                    remaining[mode] = remaining.get(mode, 0) + win.remaining
    by_state, by_stored = Counter(states), Counter(stored)
    out: dict[str, Any] = {"total": len(states), **{s: 0 for s in FILTER_STATUSES},
                           NSFW_TAG: nsfw, "pools": {p: 0 for p in POOLS}}
    out.update((s, by_state[s]) for s in DERIVED)
    out.update((s, by_stored[s]) for s in ("cooling", "expired", "disabled"))
    out["deleted"] = deleted
    out["pools"].update(Counter(pools))
    out.update(summary(successes, failures, remaining, Counter(tags)))
    return out


async def list_accounts(accounts: Sequence[Account], *, pool: str | None, status: str | None,
                        tag: str | None, nsfw: bool | None, search: str | None, now: int,
                        sort: str | None, descending: bool, start: int,
                        stop: int | None, counts: dict[str, Any] | None = None) -> Listing:
    """The rows `start:stop` of the accounts matching the filters (in table order, or by
    `sort`), how many match, and the filter chips' counts over every account (`counts` when
    the caller kept them, else `tally`). Without a filter or a sort the pass stops at the end
    of the page."""
    if counts is None:
        counts = await tally(accounts, now)
    needle = search.lower() if search else None
    derived_filter = status in DERIVED
    filtering = (status is not None or pool is not None or tag is not None or nsfw is not None
                 or needle is not None)
    key = SORT_KEYS[sort] if sort else None
    matched: list[Account] = []
    keep = matched.append
    total = 0
    for first in range(0, len(accounts), SLICE):
        if first:
            await asyncio.sleep(0)  # let the proxied requests run
        if not filtering and key is None and stop is not None and len(matched) >= stop:
            total = counts["total"]  # the page is full: every live account matches
            break
        for acc in accounts[first:first + SLICE]:
            if filtering:  # the same rules as `views.matches`
                if status == "deleted":
                    if acc.deleted_at is None:
                        continue
                elif acc.deleted_at is not None:
                    continue
                elif derived_filter:
                    if derived_state(acc, now) != status:
                        continue
                elif status is not None and acc.status != status:
                    continue
                if pool is not None and acc.pool != pool:
                    continue
                if tag is not None and tag not in acc.tags:
                    continue
                if nsfw is not None and (NSFW_TAG in acc.tags) != nsfw:
                    continue
                if needle and needle not in acc.token.lower() and needle not in acc.note.lower():
                    continue
            elif acc.deleted_at is not None:
                continue
            total += 1
            if key is not None or stop is None or len(matched) < stop:
                keep(acc)
    if key is not None:  # one C-level sort (measured faster than a heap even for page 1);
        # stable, also reversed: equal values keep the table order either way
        matched.sort(key=key, reverse=descending)
    return Listing(matched[start:stop], total, counts)


async def views(rows: Sequence[Account], now: int) -> list[dict[str, Any]]:
    """`account_view` of every row, in slices (the whole table is 100,000 rows)."""
    out: list[dict[str, Any]] = []
    for first in range(0, len(rows), SLICE):
        if first:
            await asyncio.sleep(0)
        out.extend(account_view(a, now) for a in rows[first:first + SLICE])
    return out
