"""The selection index against the plain scan it replaced: the same account is chosen after
any sequence of leases, releases, feedback, operator actions and the passing of time."""
from __future__ import annotations

import copy
import random
from collections.abc import Collection, Sequence

import pytest

import state.pool as pool_module
from state.account import TIER_MODES, Account
from state.pool import QUOTA, RANDOM, AccountPool, Lease
from state.pool_index import RECENCY_MS

log = pool_module.log
token_label = pool_module.token_label
to_ms = pool_module.to_ms


class ScanPool(AccountPool):
    """The pool with the selection it had before the index: one pass over every candidate
    (plus the index's eager handling of expired cooldowns and windows, marked below)."""

    def candidates(self, pools: Sequence[str], mode: str, exclude: Collection[str],
                   max_inflight: int, now: int) -> list[str]:
        """What the random strategy may draw from, in the first pool that has any."""
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            fits = [a.token for a in self._by_pool.get(pool, {}).values()
                    if a.deleted_at is None and not a.runtime_expired and a.token not in exclude
                    and (a.status == "active" or (a.status == "cooling" and (
                        a.cooldown_until is None or a.cooldown_until <= now)))
                    and a.inflight < max_inflight and not a.mode_cooling(mode, now)]
            if fits:
                return fits
        return []

    def select(self, pools: Sequence[str], mode: str, *, exclude: Collection[str] = (),
               max_inflight: int = 8, now: float | None = None,
               only: str | None = None, strategy: str = QUOTA) -> Lease | None:
        """Lease an account for `mode`, trying `pools` in order: a later pool only when no
        account of an earlier one fits. `only` restricts the choice to that one
        account (a pinned continuation), with the same checks.

        `strategy` QUOTA: among accounts with `mode` quota left, the highest
        `score()` wins (ties: least recently used). RANDOM: a uniform choice among
        the accounts that are not cooling, quota ignored. Both skip accounts with
        `inflight >= max_inflight` and modes a chat 429 cools. One pass, no I/O."""
        ts = pool_module.now_ms() if now is None else to_ms(now)
        skip = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        by_quota = strategy != RANDOM
        for pool in pools:
            if mode not in TIER_MODES.get(pool, ()):
                continue
            members = self._by_pool.get(pool, {})
            # the index applies what time changed (a cooldown over, a window reset) to every
            # live member of a pool it tries, not only to those it could lease
            for acc in members.values():
                if acc.deleted_at is not None or acc.runtime_expired:
                    continue
                if acc.status == "cooling" and acc.reactivate_if_cooled(ts):
                    acc.touch(ts)
                    self._mark(acc)
                win = acc.quota.get(mode)
                if acc.status == "active" and win is not None and win.reset_at is not None \
                        and win.reset_at <= ts and win.refill_if_due(ts):
                    self._mark(acc)
            if only is not None:
                pinned = members.get(only)
                members = {only: pinned} if pinned is not None else {}
            best: Account | None = None
            best_score = best_last = 0.0
            fits: list[Account] = []
            for acc in members.values():
                if acc.deleted_at is not None or acc.runtime_expired or acc.token in skip:
                    continue
                if acc.status != "active":
                    if not acc.reactivate_if_cooled(ts):
                        continue
                    log.info("account %s active again: its cooldown is over",
                             token_label(acc.token))
                    acc.touch(ts)
                    self._mark(acc)
                inflight = acc.local_inflight + acc.peer_inflight
                if inflight >= max_inflight or acc.mode_cooling(mode, ts):
                    continue
                if not by_quota:
                    fits.append(acc)
                    continue
                win = acc.quota.get(mode) or acc.window(mode)
                if win is None:
                    continue
                reset_at = win.reset_at
                if reset_at is not None and reset_at <= ts and win.refill_if_due(ts):
                    self._mark(acc)
                remaining = win.remaining
                if remaining <= 0:
                    continue
                # the score can only be lower than this bound: skip the rest when it loses
                value = 100.0 * acc.health + 25.0 * remaining
                if best is not None and value < best_score:
                    continue
                fails = acc.consecutive_failures
                value -= 20.0 * inflight + 4.0 * (fails if fails < 10 else 10)
                last = acc.last_use_at or 0
                if last and ts - last < RECENCY_MS:
                    value -= 15.0 * (1.0 - max(0, ts - last) / RECENCY_MS)
                if best is None or value > best_score or (value == best_score and last < best_last):
                    best, best_score, best_last = acc, value, last
            if fits:
                best = fits[0] if len(fits) == 1 else random.choice(fits)
            if best is not None:
                best.inflight += 1
                best.last_use_at = ts
                self._mark(best)
                return Lease(best, mode)
        return None


POOL_ORDERS = (["basic"], ["super"], ["super", "heavy"], ["heavy", "super"],
               ["basic", "super", "heavy"])
MODES = ("fast", "auto", "expert", "heavy")
START = 1_800_000_000_000


def _accounts(rng: random.Random, n: int) -> list[Account]:
    out = []
    for i in range(n):
        acc = Account.new(f"tok-{i:03d}", rng.choice(("basic", "super", "heavy")), now=0)
        for win in acc.quota.values():
            win.remaining = rng.choice((0, 1, 2, 3, 5))
        acc.health = rng.choice((1.0, 1.0, 0.55, 0.3))
        acc.consecutive_failures = rng.choice((0, 0, 1, 12))
        acc.last_use_at = rng.choice((None, START - 20_000, START - 5_000))
        if rng.random() < 0.1:
            acc.status, acc.cooldown_until = "cooling", START + rng.randrange(0, 60_000)
        out.append(acc)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_index_chooses_what_a_full_scan_chooses(seed: int, monkeypatch) -> None:
    rng = random.Random(seed)
    clock = [START]
    monkeypatch.setattr(pool_module, "now_ms", lambda: clock[0])
    accounts = _accounts(rng, 40)
    indexed, scanned = AccountPool(None), ScanPool(None)
    indexed.load(copy.deepcopy(accounts))
    scanned.load(copy.deepcopy(accounts))
    leases: list[tuple[Lease, Lease]] = []
    tokens = [a.token for a in accounts]
    compared = 0
    for _ in range(2500):
        clock[0] += rng.choice((0, 0, 1, 700, 4_000, 16_000, 600_000))
        op = rng.random()
        token = rng.choice(tokens)
        cap = 2 if rng.random() < 0.05 else 3
        if op < 0.45:
            pools, mode = rng.choice(POOL_ORDERS), rng.choice(MODES)
            skip = set(rng.sample(tokens, rng.choice((0, 0, 1, 3))))
            if rng.random() < 0.8:
                a = indexed.select(pools, mode, exclude=skip, max_inflight=cap, now=clock[0])
                b = scanned.select(pools, mode, exclude=skip, max_inflight=cap, now=clock[0])
                assert (a and a.token) == (b and b.token), (seed, pools, mode)
                compared += a is not None
            else:
                fits = scanned.candidates(pools, mode, skip, cap, clock[0])
                a = indexed.select(pools, mode, exclude=skip, max_inflight=cap, now=clock[0],
                                   strategy=RANDOM)
                assert (a is None) == (not fits) and (a is None or a.token in fits)
                # the same lease on the scanning side (no lease: the same pools tried)
                b = scanned.select(pools, mode, exclude=skip, max_inflight=cap, now=clock[0],
                                   only=a.token if a else "no such token", strategy=RANDOM)
                assert (a and a.token) == (b and b.token)
            if a is not None and b is not None:
                leases.append((a, b))
        elif op < 0.65 and leases:
            a, b = leases.pop(rng.randrange(len(leases)))
            what, reset = rng.random(), clock[0] + rng.randrange(1, 90_000)
            for pool, lease in ((indexed, a), (scanned, b)):
                if what < 0.5:
                    pool.on_success(lease)
                elif what < 0.7:
                    pool.on_failure(lease, "502 bad gateway")
                elif what < 0.8:
                    pool.on_rate_limited(lease, reset_at=reset)
                pool.release(lease)
        else:
            mode = rng.choice(MODES)
            action = rng.choice(("quota", "disable", "enable", "delete", "add", "move",
                                 "unauthorized", "expired", "estimate"))
            left, tier = rng.choice((0, 2, 9)), rng.choice(("basic", "super", "heavy"))
            for pool in (indexed, scanned):
                acc = pool.get(token)
                if action == "quota" and acc is not None and acc.supports(mode):
                    pool.apply_quota(token, mode, left, 10, 60)
                elif action == "disable":
                    pool.disable(token)
                elif action == "enable":
                    pool.enable(token)
                elif action == "delete":
                    pool.delete(token)
                elif action == "add":
                    pool.add(token, tier)
                elif action == "move":
                    pool.set_pool(token, tier)
                elif action == "unauthorized":
                    pool.on_unauthorized(token)
                elif action == "expired":
                    pool.on_invalid_credentials(token, "blocked")
                elif action == "estimate":
                    pool.estimate_quota(token, mode)
    assert compared > 200  # the comparison saw real choices, not only empty pools


def test_an_account_changed_behind_the_pools_back_is_never_leased_wrongly() -> None:
    pool = AccountPool(None)
    pool.add("tok-a")
    pool.add("tok-b")
    pool.get("tok-a").window("fast").remaining = 0  # no `refresh`: the index still ranks it
    pool.get("tok-b").status = "disabled"
    assert pool.select(["basic"], "fast") is None
    pool.get("tok-b").status = "active"
    pool.refresh(pool.get("tok-b"))
    assert pool.select(["basic"], "fast").token == "tok-b"
