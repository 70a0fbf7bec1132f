"""The in-memory account pool: selection, leases and feedback on the request path.

Nothing here touches the database: every change marks the account dirty on the write-behind
writer, which saves it later on the database thread. All methods run on the event loop.
Selection reads an index (`state.pool_index`) instead of scanning: `_mark`, which every change
calls, also re-places the account in it, so a new method that changes an account keeps the
index right by calling `_mark(acc)` as it already must for the write-behind. Time arguments
(`now`, `reset_at`) are epoch seconds as `time.time()` gives them (milliseconds are accepted
too).
"""
from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from state.account import (
    PERSISTED_FIELDS,
    POOLS,
    SOURCE_DEFAULT,
    SOURCE_ESTIMATED,
    TIER_MODES,
    Account,
    default_window,
    health_factor,
    normalize_token,
    now_ms,
    to_ms,
    token_label,
)
from state.pool_index import RECENCY_MS, SelectionIndex

if TYPE_CHECKING:  # pragma: no cover
    from state.writer import WriteBehind

__all__ = ["QUOTA", "RANDOM", "AccountPool", "Lease", "score"]

#: State changes (cooling, expiry, operator actions) are logged here, each naming the account
#: by `token_label`: an operator can follow an account without the log holding a credential.
log = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"
#: Selection strategies: scoring on quota, or uniform among the free.
QUOTA, RANDOM = "quota", "random"
TOO_MANY_FAILURES = "consecutive_failures"


@dataclass(slots=True)
class Lease:
    account: Account
    mode: str
    released: bool = False

    @property
    def token(self) -> str:
        return self.account.token


def score(acc: Account, remaining: int, now_ms_: int) -> float:
    """The selection score: `100·health + 25·remaining − 20·inflight − 4·min(fails,10) − recency`, where
    recency is `15·(1 − age/15 s)` for an account used in the last 15 s. The selection index
    orders by the part without recency (`state.pool_index.static_score`); this is the
    readable definition for tests and tools."""
    value = (100.0 * acc.health + 25.0 * remaining - 20.0 * acc.inflight
             - 4.0 * min(acc.consecutive_failures, 10))
    last = acc.last_use_at or 0
    age = now_ms_ - last
    if last and age < RECENCY_MS:
        value -= 15.0 * (1.0 - max(0, age) / RECENCY_MS)
    return value


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _scrubbed(reason: str, token: str) -> str:
    """An upstream reason as it may be logged: the token never, even if a body echoed it."""
    return reason.replace(token, token_label(token)) if token and token in reason else reason


class AccountPool:
    def __init__(self, writer: WriteBehind | None, *, fail_threshold: int = 5,
                 fail_cooldown_sec: int = 900) -> None:
        self.writer = writer
        self.fail_threshold = fail_threshold
        self.fail_cooldown_sec = fail_cooldown_sec
        self._by_token: dict[str, Account] = {}
        self._by_pool: dict[str, dict[str, Account]] = {p: {} for p in POOLS}
        self._index = SelectionIndex()
        #: Called when an account may have become leasable (a lease ended, an account came
        #: back): the wait queue of the account selector listens here.
        self.on_capacity: Callable[[], None] | None = None

    # ------------------------------------------------------------------ table
    def load(self, accounts: Iterable[Account]) -> None:
        """Replace the table; runtime fields of accounts already known are carried over."""
        old = self._by_token
        self._by_token = {}
        self._by_pool = {p: {} for p in POOLS}
        for acc in accounts:
            prev = old.get(acc.token)
            if prev is not None:
                acc.inflight, acc.health, acc.runtime_expired = (
                    prev.inflight, prev.health, prev.runtime_expired)
            self._by_token[acc.token] = acc
            self._by_pool.setdefault(acc.pool, {})[acc.token] = acc
        self._index = SelectionIndex(self._index.cap)
        self._index.rebuild(self._by_token.values(), self._index.cap)
        self._capacity()

    def merge(self, accounts: Iterable[Account]) -> int:
        """Bring in accounts as the database holds them (other workers' and instances'
        writes, `state.sync`). An unknown token is added; a known account takes the persisted
        fields of the incoming copy unless that copy is older (a lower revision). Runtime
        fields (in-flight counts, health, runtime expiry) stay: the object itself is kept, so
        open leases stay valid. Returns how many accounts were added or changed."""
        changed = 0
        for inc in accounts:
            cur = self._by_token.get(inc.token)
            if cur is None:
                self._add_member(inc)
                changed += 1
                continue
            if inc.revision < cur.revision:
                continue
            moved = inc.pool != cur.pool
            if moved:
                self._drop_member(cur)
            for name in PERSISTED_FIELDS:
                setattr(cur, name, getattr(inc, name))
            cur.synced = inc.synced
            if moved:
                self._add_member(cur)
            else:
                self._place(cur)
            changed += 1
        return changed

    def _add_member(self, acc: Account) -> None:
        self._by_token[acc.token] = acc
        self._by_pool.setdefault(acc.pool, {})[acc.token] = acc
        self._index.join(acc)
        self._capacity()

    def _drop_member(self, acc: Account) -> None:
        self._by_pool.get(acc.pool, {}).pop(acc.token, None)
        self._index.leave(acc)

    def _place(self, acc: Account) -> None:
        """Re-place `acc` in the selection index after a change of its fields."""
        if self._index.place(acc):
            self._capacity()

    def _capacity(self) -> None:
        if self.on_capacity is not None:
            self.on_capacity()

    def _mark(self, acc: Account, urgent: bool = False) -> None:
        """Every change of an account ends here: the selection index follows it and the
        write-behind saves it."""
        self._place(acc)
        if self.writer is not None:
            self.writer.mark(acc, urgent=urgent)

    def refresh(self, acc: Account) -> None:
        """Tell the pool that `acc`'s fields were changed outside its methods (peers' in-flight
        counts, a test): the selection index follows. Nothing is saved."""
        if self._by_token.get(acc.token) is acc:
            self._place(acc)

    def get(self, token: str) -> Account | None:
        return self._by_token.get(token)

    def all(self) -> list[Account]:
        return list(self._by_token.values())

    def __len__(self) -> int:
        return len(self._by_token)

    def count_inflight(self) -> int:
        return sum(a.inflight for a in self._by_token.values())

    # ------------------------------------------------------------------ selection
    def select(self, pools: Sequence[str], mode: str, *, exclude: Collection[str] = (),
               max_inflight: int = 8, now: float | None = None,
               only: str | None = None, strategy: str = QUOTA) -> Lease | None:
        """Lease an account for `mode`, trying `pools` in order: a later pool only when no
        account of an earlier one fits. `only` restricts the choice to that one
        account (a pinned continuation), with the same checks.

        `strategy` QUOTA: among accounts with `mode` quota left, the highest
        `score()` wins (ties: least recently used, then the earlier member of the pool).
        RANDOM: a uniform choice among the accounts that are not cooling, quota ignored.
        Both skip accounts with `inflight >= max_inflight`. No I/O; the index makes it a few
        ordered-list operations whatever the size of the pool."""
        ts = now_ms() if now is None else to_ms(now)
        skip = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        by_quota = strategy != RANDOM
        index = self._index
        if max_inflight != index.cap:
            index.rebuild(self._by_token.values(), max_inflight)
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            for acc in index.due(pool, mode, ts):
                self._wake(acc, mode, ts)
            if only is not None:
                best = self._pinned(pool, mode, only, skip, max_inflight, ts, by_quota)
            elif by_quota:
                best = index.best(pool, mode, ts, skip)
            else:
                best = index.pick(pool, mode, skip)
            if best is not None:
                best.inflight += 1
                best.last_use_at = ts
                self._mark(best)
                return Lease(best, mode)
        return None

    def _wake(self, acc: Account, mode: str, ts: int) -> None:
        """Time moved past what held `acc` back: its cooldown ended, or its window reset."""
        if acc.status == "cooling" and acc.deleted_at is None and not acc.runtime_expired \
                and acc.reactivate_if_cooled(ts):
            log.info("account %s active again: its cooldown is over", token_label(acc.token))
            acc.touch(ts)
            self._mark(acc)
        win = acc.quota.get(mode)
        if acc.status == "active" and win is not None and win.reset_at is not None \
                and win.reset_at <= ts and win.refill_if_due(ts):
            self._mark(acc)
        self._place(acc)

    def _pinned(self, pool: str, mode: str, token: str, skip: Collection[str],
                max_inflight: int, ts: int, by_quota: bool) -> Account | None:
        """The one account `token` if it is in `pool` and fits, with the usual checks."""
        acc = self._by_pool.get(pool, {}).get(token)
        if acc is None or acc.deleted_at is not None or acc.runtime_expired or token in skip:
            return None
        if acc.status != "active":
            if not acc.reactivate_if_cooled(ts):
                return None
            log.info("account %s active again: its cooldown is over", token_label(acc.token))
            acc.touch(ts)
            self._mark(acc)
        if acc.local_inflight + acc.peer_inflight >= max_inflight:
            return None
        if not by_quota:
            return acc
        win = acc.quota.get(mode) or acc.window(mode)
        if win is None:
            return None
        if win.reset_at is not None and win.reset_at <= ts and win.refill_if_due(ts):
            self._mark(acc)
        return acc if win.remaining > 0 else None

    def saturated(self, pools: Sequence[str], mode: str, *, exclude: Collection[str] = (),
                  strategy: str = QUOTA) -> bool:
        """Nothing could be leased, but an account of `pools` would serve `mode` if it were
        not at the in-flight cap: a lease ending soon will free it."""
        skip = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        return any(self._index.saturated(pool, mode, skip, strategy != RANDOM)
                   for pool in pools if mode in TIER_MODES.get(pool, ()))

    def next_ready_at(self, pools: Sequence[str], mode: str) -> int | None:
        """The earliest time (epoch ms) a cooling account or an empty window of `pools` for
        `mode` comes back by itself; None when nothing is due to."""
        times = [t for pool in pools if mode in TIER_MODES.get(pool, ())
                 if (t := self._index.next_wake(pool, mode)) is not None]
        return min(times) if times else None

    def release(self, lease: Lease) -> None:
        if lease.released:
            return
        lease.released = True
        acc = lease.account
        acc.inflight = max(0, acc.inflight - 1)
        if self._by_token.get(acc.token) is acc:
            self._index.place(acc)
        self._capacity()

    def usable(self, token: str, now: float | None = None) -> bool:
        """The account exists, is not deleted, not expired (stored or at runtime) and is
        active (or cooling with its cooldown over). Quota and in-flight are not checked."""
        acc = self._by_token.get(token)
        if acc is None or acc.deleted_at is not None or acc.runtime_expired:
            return False
        if acc.status == "cooling":
            ts = now_ms() if now is None else to_ms(now)
            return acc.cooldown_until is None or acc.cooldown_until <= ts
        return acc.status == "active"

    def has_usable(self, pools: Sequence[str], mode: str) -> bool:
        """Model availability: an account that is not deleted, active or cooling, in
        one of `pools`, whose tier supports `mode`."""
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            for acc in self._by_pool.get(pool, {}).values():
                if acc.deleted_at is None and acc.status in ("active", "cooling"):
                    return True
        return False

    # ------------------------------------------------------------------ feedback
    def on_success(self, lease: Lease) -> None:
        lease.account.record_success(lease.mode, now_ms())
        self._mark(lease.account)

    def on_rate_limited(self, lease: Lease, reset_at: float | None = None) -> None:
        """The mode's window is empty until `reset_at` (default: the stored future reset, else
        now + window) and the account cools until then: the 429 is the freshest word on it."""
        acc, ts = lease.account, now_ms()
        win = acc.window(lease.mode)
        if reset_at is not None:
            until = to_ms(reset_at)
        elif win is not None and win.reset_at is not None and win.reset_at > ts:
            until = win.reset_at
        else:
            until = ts + (win.window_seconds if win is not None else 7200) * 1000
        if win is not None:
            win.remaining = 0
            win.reset_at = until
            win.source = SOURCE_ESTIMATED
        acc.usage_fail_count += 1
        acc.last_fail_at = ts
        acc.last_fail_reason = "429 rate limited"
        acc.health = max(0.05, acc.health * health_factor("429"))
        was = acc.status
        acc.cool_down(until, RATE_LIMITED)
        log.warning("account %s %s -> cooling until %s: rate limited on mode %s",
                    token_label(acc.token), was, _when(until), lease.mode)
        acc.touch(ts)
        self._mark(acc)

    def on_invalid_credentials(self, token: str, reason: str) -> None:
        acc = self._by_token.get(token)
        if acc is None:
            return
        ts = now_ms()
        acc.record_failure(reason, ts, health_factor("401"))
        if acc.status != "expired":
            log.warning("account %s %s -> expired: %s", token_label(token), acc.status,
                        _scrubbed(reason, token)[:200])
        acc.status = "expired"
        acc.state_reason = reason[:500]
        acc.cooldown_until = None
        acc.ext["expired_at"] = ts
        acc.ext["expired_reason"] = reason[:500]
        self._mark(acc, urgent=True)

    def on_unauthorized(self, token: str) -> None:
        """A plain 401: out of this process's rotation; the stored status is unchanged."""
        acc = self._by_token.get(token)
        if acc is None:
            return
        if not acc.runtime_expired:
            log.warning("account %s expired in this process (plain 401): out of its rotation "
                        "until enabled or restarted", token_label(token))
        acc.runtime_expired = True
        self._fail(acc, "401 unauthorized")

    def on_failure(self, lease: Lease, reason: str) -> None:
        self._fail(lease.account, reason)

    def _fail(self, acc: Account, reason: str) -> None:
        ts = now_ms()
        acc.record_failure(reason, ts, health_factor(reason))
        if acc.consecutive_failures >= self.fail_threshold and acc.status == "active":
            until = ts + self.fail_cooldown_sec * 1000
            acc.cool_down(until, TOO_MANY_FAILURES)
            log.warning("account %s active -> cooling until %s: %d consecutive failures "
                        "(last: %s)", token_label(acc.token), _when(until),
                        acc.consecutive_failures, _scrubbed(reason, acc.token)[:200])
        self._mark(acc)

    def apply_quota(self, token: str, mode: str, remaining: int, total: int,
                    window_seconds: int) -> None:
        """Real numbers from the rate-limit probe. A cooling account with quota left becomes
        active, except during a chat 429's cooldown: a 429 beats a stale probe."""
        acc = self._by_token.get(token)
        if acc is None:
            return
        ts = now_ms()
        acc.apply_quota(mode, remaining, total, window_seconds, ts)
        win = acc.quota[mode]
        if acc.status == "cooling" and win.remaining > 0:
            blocked = (acc.state_reason == RATE_LIMITED and acc.cooldown_until is not None
                       and acc.cooldown_until > ts)
            if not blocked:
                acc.cooldown_until = ts
                acc.reactivate_if_cooled(ts)
                log.info("account %s active again: a quota probe found %s left on mode %s",
                         token_label(token), win.remaining, mode)
        self._mark(acc)

    # ------------------------------------------------------------------ operator actions
    def add(self, token: str, pool: str = "basic", tags: Sequence[str] = (), note: str = "") -> bool:
        """False if the token exists and is not deleted; a soft-deleted one is restored."""
        token = normalize_token(token)
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}")
        ts = now_ms()
        acc = self._by_token.get(token)
        if acc is not None and acc.deleted_at is None:
            return False
        if acc is None:
            acc = Account.new(token, pool, tags, note, ts)
            log.info("account %s added to pool %s", token_label(token), pool)
        else:
            acc.restore(ts)
            log.info("account %s restored (was deleted) to pool %s", token_label(token), pool)
            self._drop_member(acc)
            acc.set_pool(pool)
            acc.tags = list(dict.fromkeys([*acc.tags, *tags]))
            acc.note = note or acc.note
        self._add_member(acc)
        self._mark(acc, urgent=True)
        return True

    def delete(self, token: str) -> bool:
        """Soft delete: out of selection at once; `add` restores it."""
        acc = self._by_token.get(token)
        if acc is None or acc.deleted_at is not None:
            return False
        ts = now_ms()
        acc.deleted_at = ts
        acc.touch(ts)
        log.info("account %s deleted (was %s)", token_label(token), acc.status)
        self._mark(acc, urgent=True)
        return True

    def disable(self, token: str, reason: str = "operator_disabled") -> bool:
        acc = self._by_token.get(token)
        if acc is None or acc.deleted_at is not None:
            return False
        ts = now_ms()
        log.info("account %s %s -> disabled (%s)", token_label(token), acc.status, reason)
        acc.status = "disabled"
        acc.state_reason = reason
        acc.ext["disabled_at"] = ts
        acc.ext["disabled_reason"] = reason
        acc.touch(ts)
        self._mark(acc, urgent=True)
        return True

    def enable(self, token: str) -> bool:
        """Operator restore: active, cooldown and failure markers cleared, and every mode a 429
        (or an empty probe) left at zero reopened with its quota unknown, so the account serves
        the next request instead of sitting `active` with nothing to select."""
        acc = self._by_token.get(token)
        if acc is None:
            return False
        was = "deleted" if acc.deleted_at is not None else acc.status
        if acc.runtime_expired:
            was += " (expired in this process)"
        reopened = acc.restore(now_ms())
        log.info("account %s %s -> active (enabled)%s", token_label(token), was,
                 f"; quota of {', '.join(reopened)} reset to unknown" if reopened else "")
        self._mark(acc, urgent=True)
        return True

    def set_pool(self, token: str, pool: str) -> bool:
        """Move an account to another tier (a refresh inferred a different one)."""
        acc = self._by_token.get(token)
        if acc is None or pool not in POOLS:
            return False
        if acc.pool != pool:
            self._drop_member(acc)
            acc.set_pool(pool)
            self._add_member(acc)
            acc.touch(now_ms())
            self._mark(acc)
        return True

    def update_tags(self, token: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> bool:
        """Add and remove tags (order kept, no duplicates). False for an unknown account;
        True whether or not anything changed."""
        acc = self._by_token.get(token)
        if acc is None:
            return False
        drop = set(remove)
        tags = [t for t in dict.fromkeys([*acc.tags, *add]) if t not in drop]
        if tags != acc.tags:
            acc.tags = tags
            acc.touch(now_ms())
            self._mark(acc)
        return True

    def save_now(self, acc: Account) -> None:
        """An operator's change made directly on `acc` (tags, note): saved without the delay."""
        acc.touch(now_ms())
        self._mark(acc, urgent=True)

    def rename(self, old: str, new: str) -> Account | None:
        """Give an account a new token value, keeping its pool, status, quota and counters (the
        operator's edit). The old token is soft-deleted; a soft-deleted record of the new token
        is taken over. None if `old` is unknown or deleted; ValueError if `new` is live."""
        acc = self._by_token.get(old)
        if acc is None or acc.deleted_at is not None:
            return None
        if new == old:
            return acc
        target = self._by_token.get(new)
        if target is not None and target.deleted_at is None:
            raise ValueError("token already exists")
        ts = now_ms()
        if target is None:
            target = Account(token=new)
        else:
            self._drop_member(target)
        for name in PERSISTED_FIELDS:
            if name != "revision":
                setattr(target, name, copy.deepcopy(getattr(acc, name)))
        target.health = acc.health
        target.deleted_at = None
        target.ext["restored_at"] = ts  # a rename beats an older delete of `new` elsewhere
        target.touch(ts)
        self._add_member(target)
        acc.deleted_at = ts
        acc.touch(ts)
        self._mark(acc, urgent=True)
        self._mark(target, urgent=True)
        return target

    # ------------------------------------------------------------------ quota refresh
    def rate_limit_hold(self, token: str, mode: str, now: float | None = None) -> bool:
        """True while a chat 429 holds `mode` at zero: the account cools for that 429 and the
        mode's window is still empty until a future reset."""
        acc = self._by_token.get(token)
        if acc is None or acc.status != "cooling" or acc.state_reason != RATE_LIMITED:
            return False
        ts = now_ms() if now is None else to_ms(now)
        if acc.cooldown_until is None or acc.cooldown_until <= ts:
            return False
        win = acc.quota.get(mode)
        return win is not None and win.remaining <= 0 and (win.reset_at or 0) > ts

    def apply_probe(self, token: str, mode: str, remaining: int, total: int,
                    window_seconds: int) -> bool:
        """`apply_quota` for a refresh probe, unless a chat 429 holds the mode at zero: the
        probe is then stale and the window is left alone. False when not applied."""
        if self.rate_limit_hold(token, mode):
            return False
        self.apply_quota(token, mode, remaining, total, window_seconds)
        return True

    def estimate_quota(self, token: str, mode: str) -> bool:
        """A probe of `mode` failed (grok.com unreachable, 5xx …): keep an estimate, never a
        zero the probe did not report. A window from the server keeps its local count (every
        call since the sync already took one off) and becomes estimated; a window whose reset
        time passed is full again, a default one at the tier default."""
        acc = self._by_token.get(token)
        if acc is None or not acc.supports(mode):
            return False
        ts = now_ms()
        win = acc.window(mode)
        assert win is not None
        if win.source == SOURCE_DEFAULT:
            if win.reset_at is not None and win.reset_at <= ts:
                fresh = default_window(acc.pool, mode)
                win.remaining, win.total, win.window_seconds = (
                    fresh.remaining, fresh.total, fresh.window_seconds)
                win.reset_at = None
        elif not win.refill_if_due(ts):
            win.source = SOURCE_ESTIMATED
        self._mark(acc)
        return True
