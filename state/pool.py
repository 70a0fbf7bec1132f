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
    CONSOLE_MODE,
    CONSOLE_TAG,
    MODE_COOLDOWNS,
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

#: The reason of an account-wide 429 cooldown, which earlier versions set (a chat 429 now
#: cools only its mode: `on_rate_limited`).
RATE_LIMITED = "rate_limited"
#: Selection strategies: scoring on quota, or uniform among the free.
QUOTA, RANDOM = "quota", "random"
#: First cooldown of a mode whose 429 no probe explained, in seconds; each further 429 of that
#: mode before a success doubles it, up to the mode's window.
RATE_LIMIT_COOLDOWN_SEC = 60


@dataclass(slots=True)
class Lease:
    account: Account
    mode: str
    released: bool = False
    at: int = 0  # when it was leased (ms): its try was sent after this

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
    def __init__(self, writer: WriteBehind | None) -> None:
        self.writer = writer
        self._by_token: dict[str, Account] = {}
        self._by_pool: dict[str, dict[str, Account]] = {p: {} for p in POOLS}
        self._index = SelectionIndex()
        #: tag → its accounts, for selection scoped to tags (a client key's scope); kept by
        #: `_place`, which every change reaches, and re-checked by the walks
        self._by_tag: dict[str, dict[str, Account]] = {}
        self._tags_of: dict[str, tuple[str, ...]] = {}
        #: Called when an account may have become leasable (a lease ended, an account came
        #: back): the wait queue of the account selector listens here.
        self.on_capacity: Callable[[], None] | None = None

    # ------------------------------------------------------------------ table
    def load(self, accounts: Iterable[Account]) -> None:
        """Replace the table; runtime fields of accounts already known are carried over."""
        old = self._by_token
        self._by_token = {}
        self._by_pool = {p: {} for p in POOLS}
        self._by_tag, self._tags_of = {}, {}
        for acc in accounts:
            prev = old.get(acc.token)
            if prev is not None:
                acc.inflight, acc.health, acc.runtime_expired = (
                    prev.inflight, prev.health, prev.runtime_expired)
            self._by_token[acc.token] = acc
            self._by_pool.setdefault(acc.pool, {})[acc.token] = acc
            self._retag(acc)
        self._index = SelectionIndex(self._index.cap)
        self._index.rebuild(self._by_token.values(), self._index.cap, now_ms())
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
        self._retag(acc)
        self._index.join(acc, now_ms())
        self._capacity()

    def _drop_member(self, acc: Account) -> None:
        self._by_pool.get(acc.pool, {}).pop(acc.token, None)
        self._index.leave(acc)

    def _place(self, acc: Account, now: int | None = None) -> None:
        """Re-place `acc` in the selection index after a change of its fields."""
        self._retag(acc)
        if self._index.place(acc, now_ms() if now is None else now):
            self._capacity()

    def _retag(self, acc: Account) -> None:
        """Keep the tag map in step with `acc.tags` (a tuple compare when nothing changed)."""
        tags = tuple(acc.tags) if acc.tags else ()
        token = acc.token
        old = self._tags_of.get(token, ())
        if old == tags and (not tags or self._by_tag.get(tags[0], {}).get(token) is acc):
            return
        for tag in old:
            members = self._by_tag.get(tag)
            if members is not None:
                members.pop(token, None)
                if not members:
                    del self._by_tag[tag]
        for tag in tags:
            self._by_tag.setdefault(tag, {})[token] = acc
        if tags:
            self._tags_of[token] = tags
        else:
            self._tags_of.pop(token, None)

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
               only: str | None = None, strategy: str = QUOTA,
               tags: Collection[str] | None = None) -> Lease | None:
        """Lease an account for `mode`, trying `pools` in order: a later pool only when no
        account of an earlier one fits. `only` restricts the choice to that one
        account (a pinned continuation), with the same checks.

        `strategy` QUOTA: among accounts with `mode` quota left, the highest
        `score()` wins (ties: least recently used, then the earlier member of the pool).
        RANDOM: a uniform choice among the accounts that are not cooling, quota ignored.
        Both skip accounts with `inflight >= max_inflight` and accounts whose `mode` a chat
        429 cools. `tags` (a client key's scope) restricts the choice to accounts carrying
        one of them. No I/O; the index makes it a few ordered-list operations whatever the
        size of the pool (with `tags`, a pass over the accounts carrying them)."""
        ts = now_ms() if now is None else to_ms(now)
        skip = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        by_quota = strategy != RANDOM
        if mode == CONSOLE_MODE:
            return self._select_console(pools, skip, max_inflight, ts, only, by_quota, tags)
        index = self._index
        if max_inflight != index.cap:
            index.rebuild(self._by_token.values(), max_inflight, ts)
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            for acc in index.due(pool, mode, ts):
                self._wake(acc, mode, ts)
            if only is not None:
                best = self._pinned(pool, mode, only, skip, max_inflight, ts, by_quota)
                if best is not None and tags and not any(t in best.tags for t in tags):
                    best = None
            elif tags:
                best = self._tagged(pool, mode, tags, skip, max_inflight, ts, by_quota)
            elif by_quota:
                best = index.best(pool, mode, ts, skip)
            else:
                best = index.pick(pool, mode, skip, ts)
            if best is not None:
                best.inflight += 1
                best.last_use_at = ts
                self._mark(best)
                return Lease(best, mode, at=ts)
        return None

    def _console_ready(self, pools: Sequence[str], skip: Collection[str], ts: int,
                       only: str | None, tags: Collection[str] | None,
                       by_quota: bool) -> list[tuple[Account, int]]:
        """The accounts tagged `console` that could serve the console mode now but for the
        in-flight cap, with their quota left (1 for the random strategy). A pass over the
        tagged accounts only: the selection index is the web modes' alone."""
        out: list[tuple[Account, int]] = []
        for acc in list(self._by_tag.get(CONSOLE_TAG, {}).values()):
            if acc.pool not in pools or acc.token in skip or (only is not None and acc.token != only):
                continue
            if tags and not any(t in acc.tags for t in tags):
                continue
            if acc.status == "cooling" and acc.deleted_at is None and not acc.runtime_expired \
                    and acc.reactivate_if_cooled(ts):
                acc.touch(ts)
                self._mark(acc)
            remaining = self._ready(acc, acc.pool, CONSOLE_MODE, (CONSOLE_TAG,), ts, by_quota)
            if remaining is not None:
                out.append((acc, remaining))
        return out

    def _select_console(self, pools: Sequence[str], skip: Collection[str], max_inflight: int,
                        ts: int, only: str | None, by_quota: bool,
                        tags: Collection[str] | None) -> Lease | None:
        """`select` for the console mode: the pools in order, the same scores and rules."""
        ready = [(a, r) for a, r in self._console_ready(pools, skip, ts, only, tags, by_quota)
                 if a.local_inflight + a.peer_inflight < max_inflight]
        for pool in pools:
            fits = [(a, r) for a, r in ready if a.pool == pool]
            if not fits:
                continue
            if by_quota:
                best = min(fits, key=lambda f: (-score(f[0], f[1], ts), f[0].last_use_at or 0))[0]
            else:
                best = random.choice(fits)[0]
            best.inflight += 1
            best.last_use_at = ts
            self._mark(best)
            return Lease(best, CONSOLE_MODE, at=ts)
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
        self._place(acc, ts)

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
        if acc.local_inflight + acc.peer_inflight >= max_inflight or acc.mode_cooling(mode, ts):
            return None
        if not by_quota:
            return acc
        win = acc.quota.get(mode) or acc.window(mode)
        if win is None:
            return None
        if win.reset_at is not None and win.reset_at <= ts and win.refill_if_due(ts):
            self._mark(acc)
        return acc if win.remaining > 0 else None

    def _tag_members(self, tags: Collection[str]) -> list[Account]:
        """The accounts carrying one of `tags` (each once), as the map has them."""
        if len(tags) == 1:
            return list(self._by_tag.get(next(iter(tags)), {}).values())
        seen: dict[str, Account] = {}
        for tag in tags:
            seen.update(self._by_tag.get(tag, {}))
        return list(seen.values())

    def _ready(self, acc: Account, pool: str, mode: str, tags: Collection[str], ts: int,
               by_quota: bool) -> int | None:
        """The quota left in `mode` if `acc` could serve a request scoped to `tags` but for
        the in-flight cap (1 for the random strategy); None when it could not."""
        if acc.pool != pool or acc.deleted_at is not None or acc.runtime_expired \
                or acc.status != "active" or acc.mode_cooling(mode, ts) \
                or not any(t in acc.tags for t in tags) \
                or self._by_token.get(acc.token) is not acc:
            return None
        if not by_quota:
            return 1
        win = acc.quota.get(mode) or acc.window(mode)
        if win is None:
            return None
        if win.reset_at is not None and win.reset_at <= ts and win.refill_if_due(ts):
            self._mark(acc)
        return win.remaining if win.remaining > 0 else None

    def _tagged(self, pool: str, mode: str, tags: Collection[str], skip: Collection[str],
                max_inflight: int, ts: int, by_quota: bool) -> Account | None:
        """The choice among the accounts of `pool` carrying one of `tags`, by the same rules
        as the index (score with recency, ties to the least recently used; or uniform)."""
        best: Account | None = None
        best_key: tuple[float, int] | None = None
        fits: list[Account] = []
        for acc in self._tag_members(tags):
            if acc.token in skip or acc.local_inflight + acc.peer_inflight >= max_inflight:
                continue
            remaining = self._ready(acc, pool, mode, tags, ts, by_quota)
            if remaining is None:
                continue
            if not by_quota:
                fits.append(acc)
                continue
            key = (-score(acc, remaining, ts), acc.last_use_at or 0)
            if best_key is None or key < best_key:
                best, best_key = acc, key
        if not by_quota:
            return random.choice(fits) if fits else None
        return best

    def saturated(self, pools: Sequence[str], mode: str, *, exclude: Collection[str] = (),
                  strategy: str = QUOTA, tags: Collection[str] | None = None) -> bool:
        """Nothing could be leased, but an account of `pools` would serve `mode` if it were
        not at the in-flight cap: a lease ending soon will free it."""
        skip = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        if mode == CONSOLE_MODE:
            cap = self._index.cap
            return any(a.local_inflight + a.peer_inflight >= cap for a, _ in self._console_ready(
                pools, skip, now_ms(), None, tags, strategy != RANDOM))
        if tags:
            ts, cap, by_quota = now_ms(), self._index.cap, strategy != RANDOM
            return any(acc.token not in skip
                       and acc.local_inflight + acc.peer_inflight >= cap
                       and self._ready(acc, acc.pool, mode, tags, ts, by_quota) is not None
                       for acc in self._tag_members(tags)
                       if acc.pool in pools and mode in TIER_MODES.get(acc.pool, ()))
        return any(self._index.saturated(pool, mode, skip, strategy != RANDOM)
                   for pool in pools if mode in TIER_MODES.get(pool, ()))

    def next_ready_at(self, pools: Sequence[str], mode: str) -> int | None:
        """The earliest time (epoch ms) a cooling account or an empty window of `pools` for
        `mode` comes back by itself; None when nothing is due to."""
        if mode == CONSOLE_MODE:
            ts = now_ms()
            ends = []
            for acc in self._by_tag.get(CONSOLE_TAG, {}).values():
                entry = acc.mode_cooldown(mode) if acc.pool in pools else None
                if entry is not None and int(entry.get("until", 0)) > ts:
                    ends.append(int(entry["until"]))
                win = acc.quota.get(mode)
                if acc.pool in pools and win is not None and win.reset_at and win.remaining <= 0:
                    ends.append(win.reset_at)
            return min(ends) if ends else None
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
            self._index.place(acc, now_ms())
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
        one of `pools`, whose tier supports `mode` (the console mode: tagged `console`)."""
        if mode == CONSOLE_MODE:
            return any(acc.pool in pools and acc.deleted_at is None
                       and acc.status in ("active", "cooling")
                       for acc in self._by_tag.get(CONSOLE_TAG, {}).values())
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            for acc in self._by_pool.get(pool, {}).values():
                if acc.deleted_at is None and acc.status in ("active", "cooling"):
                    return True
        return False

    # ------------------------------------------------------------------ feedback
    def on_success(self, lease: Lease) -> None:
        """A try answered well. It forgives the mode's 429 strikes only if it was sent after
        the latest 429: the answers of tries already under way when the limit struck say
        nothing about it (with several requests in flight per account, they would end every
        cooldown at once and the doubling would never happen)."""
        acc = lease.account
        acc.record_success(lease.mode, now_ms())
        entry = acc.mode_cooldown(lease.mode) if acc.ext.get(MODE_COOLDOWNS) else None
        if entry is not None and lease.at > int(entry.get("since", -1)):
            acc.clear_mode_cooldown(lease.mode)
            log.info("account %s mode %s serves again: its 429 strikes are cleared",
                     token_label(acc.token), lease.mode)
        self._mark(acc)

    def on_rate_limited(self, lease: Lease, reset_at: float | None = None) -> int:
        """A chat 429 (HTTP, in-band, or the usage-limit answer) on `lease.mode`: that mode of
        that account, and only it, leaves selection. Until `reset_at` when the caller knows
        (the random strategy's pool interval); else for a short cooldown, doubled on each
        further 429 of the mode before a success and capped at its window, until the probe
        that follows (`apply_probe`) says more. Returns the end of the cooldown (ms)."""
        acc, mode, ts = lease.account, lease.mode, now_ms()
        entry = acc.mode_cooldown(mode) or {}
        strikes = int(entry.get("strikes", 0)) + 1
        confirmed = reset_at is not None
        if confirmed:
            until = to_ms(reset_at)
        else:
            win = acc.window(mode)
            cap = win.window_seconds if win is not None else 7200
            until = ts + min(cap, RATE_LIMIT_COOLDOWN_SEC << min(strikes - 1, 20)) * 1000
        if int(entry.get("until", 0)) > until:  # a longer cooldown already runs: keep it
            until, confirmed = int(entry["until"]), bool(entry.get("confirmed"))
        acc.set_mode_cooldown(mode, until, strikes, confirmed, since=ts)
        acc.usage_fail_count += 1
        acc.last_fail_at = ts
        acc.last_fail_reason = "429 rate limited"
        acc.health = max(0.05, acc.health * health_factor("429"))
        log.warning("account %s mode %s cooling until %s: rate limited (429 #%d)",
                    token_label(acc.token), mode, _when(until), strikes)
        acc.touch(ts)
        self._mark(acc)
        return until

    def lift_rate_limit(self, token: str, mode: str) -> bool:
        """The 429 that cooled `mode` turned out to be a throttle of the gateway's egress
        (many accounts at once), not this account's quota: the cooldown ends now, unless a
        probe confirmed it, and the strike is taken back. True when something changed."""
        acc = self._by_token.get(token)
        entry = acc.mode_cooldown(mode) if acc is not None else None
        if acc is None or entry is None or entry.get("confirmed"):
            return False
        ts = now_ms()
        strikes = max(0, int(entry.get("strikes", 1)) - 1)
        if strikes:
            acc.set_mode_cooldown(mode, ts, strikes, False, entry.get("since"))
        else:
            acc.clear_mode_cooldown(mode)
        log.info("account %s mode %s: its 429 was an egress throttle; cooldown lifted",
                 token_label(token), mode)
        acc.touch(ts)
        self._mark(acc)
        return True

    def mode_cooling(self, token: str, mode: str, now: float | None = None) -> bool:
        """A chat 429 holds `mode` of the account out of selection."""
        acc = self._by_token.get(token)
        ts = now_ms() if now is None else to_ms(now)
        return acc is not None and acc.mode_cooling(mode, ts)

    def on_invalid_credentials(self, token: str, reason: str, detail: str = "") -> None:
        """Expired, with `reason` (the invalid-credential marker) as its state reason and
        `detail` (the status and grok.com's code, when known) as its last error."""
        acc = self._by_token.get(token)
        if acc is None:
            return
        ts = now_ms()
        acc.record_failure(detail or reason, ts, health_factor("401"))
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
        """Counted and scored (health, consecutive failures), never taken out of selection:
        a failure that is not evidence about the account (an upstream 5xx, a cut or stalled
        stream) must not empty the pool during an outage."""
        acc.record_failure(reason, now_ms(), health_factor(reason))
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
        """Operator restore: active, cooldown (the modes' too) and failure markers cleared, and
        every mode a 429 (or an empty probe) left at zero reopened with its quota unknown, so
        the account serves the next request instead of sitting `active` with nothing to
        select."""
        acc = self._by_token.get(token)
        if acc is None:
            return False
        was = "deleted" if acc.deleted_at is not None else acc.status
        if acc.runtime_expired:
            was += " (expired in this process)"
        cooled = list(acc.ext.get(MODE_COOLDOWNS) or ())
        reopened = acc.restore(now_ms())
        log.info("account %s %s -> active (enabled)%s%s", token_label(token), was,
                 f"; 429 cooldown of {', '.join(cooled)} cleared" if cooled else "",
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
    def apply_probe(self, token: str, mode: str, remaining: int, total: int,
                    window_seconds: int, wait_seconds: int | None = None) -> bool:
        """`apply_quota` for a rate-limits probe. While a chat 429 cools the mode, the probe
        decides how long: the mode exhausted, or a `wait_seconds` given, holds it out until
        that reset (confirmed); quota left leaves the short cooldown running, since a probe
        may lag behind the chat's limit. False for an unknown account."""
        acc = self._by_token.get(token)
        if acc is None:
            return False
        self.apply_quota(token, mode, remaining, total, window_seconds)
        ts = now_ms()
        entry = acc.mode_cooldown(mode)
        if entry is None or int(entry.get("until", 0)) <= ts:
            return True
        win = acc.quota[mode]
        if not wait_seconds and win.remaining > 0:
            return True
        until = ts + wait_seconds * 1000 if wait_seconds else (win.reset_at or ts)
        if wait_seconds:
            win.remaining, win.reset_at = 0, until
        until = max(until, int(entry["until"]))
        acc.set_mode_cooldown(mode, until, int(entry.get("strikes", 1)), True, entry.get("since"))
        log.info("account %s mode %s cooling until %s: the probe after its 429 found %s",
                 token_label(token), mode, _when(until),
                 f"a wait of {wait_seconds} s" if wait_seconds else "no quota left")
        self._mark(acc)
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
