"""The account listing of the admin API, computed server-side for pools of 100,000 accounts:
filter, count, sort and page in one pass over a snapshot of the table.

The pass runs on the event loop (the accounts live there) but hands the loop back every
`SLICE` accounts, so that serving the listing never holds up the requests being proxied for
more than a few milliseconds at a time. Without a sort only the rows up to the end of the
requested page in table order; a sort is one stable C-level sort of the sort values (ties keep
the table order, so paging through equal values is stable).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from quart_app.admin.views import FILTER_STATUSES, NSFW_TAG, account_view, derived_state
from state.account import POOLS, Account

__all__ = ["SLICE", "SORT_KEYS", "Listing", "list_accounts", "views"]

#: Accounts looked at between two turns of the event loop.
SLICE = 2000
_first = itemgetter(0)


def _remaining(acc: Account) -> int:
    return sum(w.remaining for w in acc.quota.values())


#: What `sort` accepts: a field of the listing → the value it orders by (None sorts first).
SORT_KEYS: dict[str, Callable[[Account], Any]] = {
    "token": lambda a: a.token,
    "pool": lambda a: POOLS.index(a.pool) if a.pool in POOLS else len(POOLS),
    "status": lambda a: a.status,
    "created_at": lambda a: a.created_at or 0,
    "updated_at": lambda a: a.updated_at or 0,
    "last_used_at": lambda a: a.last_use_at or 0,
    "last_fail_at": lambda a: a.last_fail_at or 0,
    "last_sync_at": lambda a: a.last_sync_at or 0,
    "use_count": lambda a: a.usage_use_count,
    "fail_count": lambda a: a.usage_fail_count,
    "consecutive_failures": lambda a: a.consecutive_failures,
    "remaining": _remaining,
    "inflight": lambda a: a.inflight,
}


@dataclass(slots=True)
class Listing:
    rows: list[Account]
    total: int
    counts: dict[str, Any]


async def list_accounts(accounts: Sequence[Account], *, pool: str | None, status: str | None,
                        tag: str | None, nsfw: bool | None, search: str | None, now: int,
                        sort: str | None, descending: bool, start: int,
                        stop: int | None) -> Listing:
    """The rows `start:stop` of the accounts matching the filters (in table order, or by
    `sort`), how many match, and the filter chips' counts over every account."""
    counts: dict[str, Any] = {"total": 0, **{s: 0 for s in FILTER_STATUSES}, NSFW_TAG: 0,
                              "pools": {p: 0 for p in POOLS}}
    pools = counts["pools"]
    needle = search.lower() if search else None
    derived_filter = status in ("active", "exhausted", "invalid")
    key = SORT_KEYS[sort] if sort else None
    matched: list[Any] = []
    total = 0
    for first in range(0, len(accounts), SLICE):
        if first:
            await asyncio.sleep(0)  # let the proxied requests run
        for acc in accounts[first:first + SLICE]:
            nsfw_tagged = NSFW_TAG in acc.tags
            if acc.deleted_at is not None:
                counts["deleted"] += 1
                state = "deleted"
            else:
                state = derived_state(acc, now)
                counts["total"] += 1
                counts[state] += 1
                if acc.status in ("cooling", "expired", "disabled"):
                    counts[acc.status] += 1
                pools[acc.pool] = pools.get(acc.pool, 0) + 1
                counts[NSFW_TAG] += nsfw_tagged
            # the filters (the same rules as `views.matches`)
            if status == "deleted":
                if state != "deleted":
                    continue
            elif state == "deleted":
                continue
            elif derived_filter:
                if state != status:
                    continue
            elif status is not None and acc.status != status:
                continue
            if pool is not None and acc.pool != pool:
                continue
            if tag is not None and tag not in acc.tags:
                continue
            if nsfw is not None and nsfw_tagged != nsfw:
                continue
            if needle and needle not in acc.token.lower() and needle not in acc.note.lower():
                continue
            total += 1
            if key is None:
                if stop is None or len(matched) < stop:
                    matched.append(acc)
            else:
                matched.append((key(acc), acc))
    if key is None:
        rows = matched
    else:  # one C-level sort (measured faster than a heap even for page 1); stable
        matched.sort(key=_first, reverse=descending)
        rows = [acc for _, acc in matched[start:stop]]
        start, stop = 0, None
    return Listing(rows[start:stop], total, counts)


async def views(rows: Sequence[Account], now: int) -> list[dict[str, Any]]:
    """`account_view` of every row, in slices (the whole table is 100,000 rows)."""
    out: list[dict[str, Any]] = []
    for first in range(0, len(rows), SLICE):
        if first:
            await asyncio.sleep(0)
        out.extend(account_view(a, now) for a in rows[first:first + SLICE])
    return out
