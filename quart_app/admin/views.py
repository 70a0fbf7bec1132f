"""JSON shapes of the admin API and the derived account states the admin page shows. Pure
functions of an `Account`; no Quart, no I/O."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from state.account import POOLS, SOURCE_DEFAULT, TIER_MODES, Account, QuotaWindow, now_ms

__all__ = [
    "DERIVED", "FILTER_STATUSES", "account_view", "counts", "derived_state", "mask_token",
    "matches", "quota_known", "scrub", "summary",
]

#: The UI's derived states: invalid = expired ∪ disabled, exhausted = cooling or every
#: window known and empty, active = neither. `deleted` for soft-deleted rows.
DERIVED = ("active", "exhausted", "invalid")
#: Values the listing's `status` filter takes: the derived states, the stored ones, `deleted`.
FILTER_STATUSES = ("active", "exhausted", "invalid", "cooling", "expired", "disabled", "deleted")
INVALID_STATUSES = ("expired", "disabled", "invalid")
NSFW_TAG = "nsfw"


def mask_token(token: str) -> str:
    """First 8 + `...` + last 8; short tokens show less, never the whole value."""
    if len(token) > 24:
        return f"{token[:8]}...{token[-8:]}"
    if len(token) > 8:
        return f"{token[:3]}...{token[-3:]}"
    return "..." + token[-2:]


def scrub(value: Any, token: str) -> Any:
    """`value` with every occurrence of `token` in its strings masked (result details)."""
    if isinstance(value, str):
        return value.replace(token, mask_token(token)) if token and token in value else value
    if isinstance(value, dict):
        return {scrub(k, token): scrub(v, token) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, token) for v in value]
    return value


def window_known(win: QuotaWindow) -> bool:
    """A window the server reported (or an estimate from a report); the tier default is not."""
    return win.source != SOURCE_DEFAULT


def _window_empty(win: QuotaWindow, now: int) -> bool:
    due = win.reset_at is not None and win.reset_at <= now  # refills on next use
    return window_known(win) and win.remaining <= 0 and not due


def quota_known(acc: Account) -> bool:
    return any(window_known(w) for w in acc.quota.values())


def derived_state(acc: Account, now: int | None = None) -> str:
    """deleted | invalid | exhausted | active. An unknown window (`quota_known=false`) never
    makes an account exhausted: every window of its tier must be known and empty.

    The listing calls this for each of 100,000 accounts per page: one plain loop that stops
    at the first window with quota left (most accounts), no generator or helper calls."""
    if acc.deleted_at is not None:
        return "deleted"
    status = acc.status
    if status in INVALID_STATUSES:
        return "invalid"
    if status == "cooling":
        return "exhausted"
    modes = TIER_MODES.get(acc.pool)
    if not modes:
        return "active"
    ts = now_ms() if now is None else now
    quota = acc.quota
    for mode in modes:  # the rules of `_window_empty`, inlined
        win = quota.get(mode)
        if (win is None or win.remaining > 0 or win.source == SOURCE_DEFAULT
                or (win.reset_at is not None and win.reset_at <= ts)):
            return "active"
    return "exhausted"


def _window_view(win: QuotaWindow) -> dict[str, Any]:
    return {**win.to_dict(), "known": window_known(win)}


def account_view(acc: Account, now: int | None = None) -> dict[str, Any]:
    """One row of `GET /admin/api/tokens`: the full token (the operator acts on it)."""
    return {
        "token": acc.token, "pool": acc.pool, "status": acc.status,
        "state": derived_state(acc, now), "quota_known": quota_known(acc),
        "quota": {m: _window_view(w) for m, w in sorted(acc.quota.items())},
        "use_count": acc.usage_use_count, "fail_count": acc.usage_fail_count,
        "sync_count": acc.usage_sync_count, "consecutive_failures": acc.consecutive_failures,
        "last_used_at": acc.last_use_at, "last_fail_at": acc.last_fail_at,
        "last_fail_reason": acc.last_fail_reason, "last_sync_at": acc.last_sync_at,
        "state_reason": acc.state_reason, "cooldown_until": acc.cooldown_until,
        "tags": list(acc.tags), "nsfw": NSFW_TAG in acc.tags, "note": acc.note,
        "created_at": acc.created_at, "updated_at": acc.updated_at, "deleted_at": acc.deleted_at,
        "inflight": acc.inflight,
    }


def matches(acc: Account, *, pool: str | None, status: str | None, tag: str | None,
            nsfw: bool | None, search: str | None, now: int) -> bool:
    """The listing's filters; `status` is a derived state, a stored one or `deleted`."""
    if status == "deleted":
        if acc.deleted_at is None:
            return False
    elif acc.deleted_at is not None:
        return False
    elif status in DERIVED:
        if derived_state(acc, now) != status:
            return False
    elif status is not None and acc.status != status:
        return False
    if pool is not None and acc.pool != pool:
        return False
    if tag is not None and tag not in acc.tags:
        return False
    if nsfw is not None and (NSFW_TAG in acc.tags) != nsfw:
        return False
    if search:
        needle = search.lower()
        if needle not in acc.token.lower() and needle not in acc.note.lower():
            return False
    return True


#: Tags listed with their counts (the most used first); the filter takes any tag.
MAX_TAG_COUNTS = 50


def summary(successes: int, failures: int, remaining: dict[str, int],
            tags: Counter[str]) -> dict[str, Any]:
    """The stat cards' totals over the live accounts: calls (successes + failures), the
    quota left per mode over the active accounts, and the most used tags with counts."""
    return {"calls": successes + failures, "successes": successes, "failures": failures,
            "remaining": dict(sorted(remaining.items())),
            "tags": dict(tags.most_common(MAX_TAG_COUNTS))}


def counts(accounts: Iterable[Account], now: int) -> dict[str, Any]:
    """Numbers for the filter chips (live accounts by derived state, stored status, pool,
    tag) and the stat cards (`summary`). The plain definition; the listing computes the same
    in its one pass."""
    out: dict[str, Any] = {"total": 0, **{s: 0 for s in FILTER_STATUSES}, NSFW_TAG: 0,
                           "pools": {p: 0 for p in POOLS}}
    successes = failures = 0
    remaining: dict[str, int] = {}
    tags: Counter[str] = Counter()
    for acc in accounts:
        if acc.deleted_at is not None:
            out["deleted"] += 1
            continue
        out["total"] += 1
        state = derived_state(acc, now)
        out[state] += 1
        if acc.status in ("cooling", "expired", "disabled"):
            out[acc.status] += 1
        out["pools"][acc.pool] = out["pools"].get(acc.pool, 0) + 1
        out[NSFW_TAG] += NSFW_TAG in acc.tags
        tags.update(acc.tags)
        successes += acc.usage_use_count
        failures += acc.usage_fail_count
        if state == "active":
            for mode, win in acc.quota.items():
                remaining[mode] = remaining.get(mode, 0) + win.remaining
    out.update(summary(successes, failures, remaining, tags))
    return out
