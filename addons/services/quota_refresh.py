"""Quota refresh: probe `POST /rest/rate-limits` per account and mode, infer the tier, and keep
the pool's windows honest.

A service object, not a chain addon: the chain calls `request_after_call` (after a success),
`probe_rate_limited` (after a chat 429) and `on_demand` (nothing selectable); the scheduler
loops run in one process
per DATA_DIR (`LeaderLock`) and, when a `lease` is given (`AccountState.lease`, shared
through Redis or a server database), in one process among all hosts: the leader holds both
and renews the lease every `LEADER_RETRY_SEC`; one that loses the lease stops its loops.
Triggers:

* per call: the used mode, fire-and-forget, coalesced per token and mode and at most once per
  `account.refresh.after_call_min_interval_sec` (the local decrement covers the calls between;
  the last call of a burst is always followed by a probe, so the window ends up exact). A busy
  account would otherwise send grok.com one rate-limits probe per chat;
* scheduled: one loop per pool, refreshing accounts whose last sync is older than the pool's
  `account.refresh.<pool>_interval_sec` (never-synced accounts, e.g. fresh imports, first);
* after a chat 429: that account and mode at once, so the answer decides how long the mode
  cools (`AccountPool.apply_probe`: until the reset when exhausted or told to wait, else the
  short cooldown the 429 started stands);
* on demand: every live account, at most once per `on_demand_min_interval_sec`;
* manual: `refresh_many` (CLI, admin batch).

Every probe shares one semaphore of `account.refresh.usage_concurrency`. A full refresh probes
`auto` first: its total names the tier (`AUTO_TOTAL_TIERS`), and an account found in another
tier moves.
An invalid-credential marker expires the account; any other failure keeps an estimate.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from state.leader import LeaderLock
from addons.upstream.classify import UpstreamHTTPError, excerpt
from addons.upstream.config import UpstreamConfig
from addons.upstream.ratelimits import RateLimits, fetch_rate_limits
from state.account import MODES, POOLS, TIER_MODES, now_ms
from state.options import Loader

__all__ = ["LEASE_NAME", "LOCK_NAME", "QuotaRefresher", "RefreshResult", "infer_tier"]

log = logging.getLogger(__name__)

LOCK_NAME = ".scheduler.lock"
#: The lease among instances on several hosts (shared database or Redis).
LEASE_NAME = "quota-refresh"
#: A leader that stops renewing loses the lease after this long.
LEASE_TTL_SEC = 90.0
#: `auto` totalQueries → tier (basic accounts have answered both 7 and 20).
AUTO_TOTAL_TIERS: dict[int, str] = {7: "basic", 20: "basic", 50: "super", 150: "heavy"}
#: Longest sleep of a scheduler loop: new imports are picked up within this.
SCHEDULER_TICK_SEC = 60.0
#: A scheduled account whose probe failed is tried again after this (or its interval).
RETRY_FAILED_AFTER_SEC = 600.0
#: A follower retries the leader lock this often (the leader may have died).
LEADER_RETRY_SEC = 30.0
_LIVE = ("active", "cooling")

Progress = Callable[[int, int, "RefreshResult"], None]
LeaseFn = Callable[[str, float], Awaitable[bool]]
ReleaseFn = Callable[[str], Awaitable[None]]


def infer_tier(auto_total: int | None) -> str | None:
    """The tier an `auto` window's total identifies; None when it names none (the account
    then keeps its pool rather than being demoted on an unknown figure)."""
    return None if auto_total is None else AUTO_TOTAL_TIERS.get(auto_total)


@dataclass(slots=True)
class RefreshResult:
    token: str
    ok: bool = False  # real numbers came back for at least one mode
    refreshed: dict[str, tuple[int, int]] = field(default_factory=dict)  # mode → (remaining, total)
    estimated: list[str] = field(default_factory=list)
    moved: tuple[str, str] | None = None  # (from pool, to pool)
    expired: str | None = None  # the invalid-credential marker
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "refreshed": len(self.refreshed),
                               "quota": {m: {"remaining": r, "total": t}
                                         for m, (r, t) in self.refreshed.items()}}
        if self.estimated:
            out["estimated"] = list(self.estimated)
        if self.moved:
            out["moved"] = {"from": self.moved[0], "to": self.moved[1]}
        if self.expired:
            out["expired"] = self.expired
        if self.error:
            out["error"] = self.error
        return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UpstreamHTTPError):
        return f"upstream HTTP {exc.status}"
    return excerpt(f"{type(exc).__name__}: {exc}")


class QuotaRefresher:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("account.refresh.enabled", bool, True,
                          "true = quota strategy (scheduled probing, scoring); false = random "
                          "strategy (no probing). Switches at once.")
        loader.add_option("account.refresh.basic_interval_sec", int, 86400,
                          "Basic pool refresh period (quota strategy) or 429 cooldown (random "
                          "strategy), seconds.")
        loader.add_option("account.refresh.super_interval_sec", int, 7200,
                          "Super pool period, seconds.")
        loader.add_option("account.refresh.heavy_interval_sec", int, 7200,
                          "Heavy pool period, seconds.")
        loader.add_option("account.refresh.usage_concurrency", int, 50,
                          "Parallel rate-limit queries (also the admin batch refresh and "
                          "`grok2api accounts refresh`).")
        loader.add_option("account.refresh.on_demand_min_interval_sec", int, 300,
                          "Minimum seconds between two request-triggered full refreshes.")
        loader.add_option("account.refresh.after_call_min_interval_sec", float, 10.0,
                          "A successful call probes its mode's quota in the background, at most "
                          "once per this many seconds per account and mode (the calls in between "
                          "are counted locally; the last one of a burst is always followed by a "
                          "probe). 0 probes after every call.")

    def __init__(self, pool: Any, transport: Any, settings: Any, *,
                 data_dir: Path | str | None = None, clock: Callable[[], float] = time.monotonic,
                 tick: float = SCHEDULER_TICK_SEC, lease: LeaseFn | None = None,
                 release_lease: ReleaseFn | None = None) -> None:
        self.pool = pool
        self.transport = transport
        self.settings = settings
        self.cfg = getattr(transport, "cfg", None) or UpstreamConfig.from_settings(settings)
        self.tick = tick
        self._clock = clock
        self._lock = LeaderLock(None if data_dir is None else Path(data_dir) / LOCK_NAME)
        self._lease = lease
        self._release_lease = release_lease
        self._lease_held = lease is None
        self._elect_lock: asyncio.Lock | None = None
        self._role: str | None = None  # what the log last said: "leader", "lock" or "lease"
        self._supervisor: asyncio.Task[Any] | None = None
        self._sem: asyncio.Semaphore | None = None
        self._sem_size = 0
        self._pending: set[tuple[str, str]] = set()
        self._again: set[tuple[str, str]] = set()
        self._probed_at: dict[tuple[str, str], float] = {}  # last per-call probe (clock time)
        self._rate_limited: set[tuple[str, str]] = set()  # probes after a chat 429 in flight
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._attempted: dict[str, float] = {}
        self._last_on_demand: float | None = None
        self._on_demand_task: asyncio.Task[Any] | None = None
        self._closed = False

    # ------------------------------------------------------------------ settings
    @property
    def enabled(self) -> bool:
        """Quota strategy (probing) on; off is the random strategy (hot-switchable)."""
        return self.settings.options.account.refresh.enabled

    @property
    def is_leader(self) -> bool:
        """This process runs the scheduler loops: it holds the DATA_DIR lock and the lease."""
        return self._lock.held and self._lease_held

    def concurrency(self) -> int:
        return max(1, self.settings.options.account.refresh.usage_concurrency)

    def interval(self, pool: str) -> float:
        return float(max(1, getattr(self.settings.options.account.refresh,
                                    f"{pool}_interval_sec")))

    def after_call_interval(self) -> float:
        return max(0.0, self.settings.options.account.refresh.after_call_min_interval_sec)

    def _semaphore(self) -> asyncio.Semaphore:
        size = self.concurrency()
        if self._sem is None or size != self._sem_size:
            self._sem, self._sem_size = asyncio.Semaphore(size), size
        return self._sem

    # ------------------------------------------------------------------ refreshing
    async def _probe(self, token: str, mode: str) -> RateLimits | Exception:
        async with self._semaphore():
            try:
                return await fetch_rate_limits(self.transport, self.cfg, token, mode)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an estimate
                return exc

    async def refresh_account(self, token: str, modes: Sequence[str] | None = None) -> RefreshResult:
        """Probe `modes` (None: a full refresh, `auto` first for the tier, then every mode of
        the account's tier) and apply what came back."""
        res = RefreshResult(token)
        acc = self.pool.get(token)
        if acc is None:
            res.error = "unknown account"
            return res
        if acc.deleted_at is not None or acc.status not in _LIVE:
            res.error = "account " + ("deleted" if acc.deleted_at is not None else acc.status)
            return res
        self._attempted[token] = self._clock()
        outcomes: dict[str, RateLimits | Exception] = {}
        if modes is None:
            first = outcomes["auto"] = await self._probe(token, "auto")
            tier = infer_tier(first.total) if isinstance(first, RateLimits) else None
            acc = self.pool.get(token)
            if acc is not None and tier is not None and tier != acc.pool:
                old = acc.pool
                if self.pool.set_pool(token, tier):
                    res.moved = (old, tier)
                    log.info("account %s… moved from %s to %s (auto total %d)", token[:8], old,
                             tier, first.total)  # type: ignore[union-attr]
            wanted = [m for m in MODES if acc is not None and m in TIER_MODES[acc.pool]]
        else:
            wanted = [m for m in dict.fromkeys(modes) if acc.supports(m)]
        todo = [m for m in wanted if m not in outcomes]
        if todo:
            found = await asyncio.gather(*(self._probe(token, m) for m in todo))
            outcomes.update(zip(todo, found))
        marker = next((o.marker for o in outcomes.values()
                       if isinstance(o, UpstreamHTTPError) and o.marker), None)
        if marker:
            self.pool.on_invalid_credentials(token, marker)
            res.expired, res.error = marker, f"invalid credentials ({marker})"
            log.info("account %s… expired on a rate-limits probe: %s", token[:8], marker)
            return res
        for mode in wanted:
            outcome = outcomes[mode]
            if isinstance(outcome, RateLimits):
                self.pool.apply_probe(token, mode, outcome.remaining, outcome.total,
                                      outcome.window_seconds, outcome.wait_seconds)
                res.refreshed[mode] = (outcome.remaining, outcome.total)
            else:
                self.pool.estimate_quota(token, mode)
                res.estimated.append(mode)
                res.error = res.error or _describe(outcome)
        res.ok = bool(res.refreshed)
        if res.estimated:
            log.debug("account %s…: %s estimated (%s)", token[:8], ",".join(res.estimated), res.error)
        return res

    async def refresh_many(self, tokens: Iterable[str], progress: Progress | None = None
                           ) -> list[RefreshResult]:
        """Full refreshes, `usage_concurrency` accounts at a time; results in input order.
        `progress(done, total, result)` is called after each account."""
        toks = list(dict.fromkeys(tokens))
        results: list[RefreshResult] = [RefreshResult(t) for t in toks]
        items = iter(enumerate(toks))
        done = 0

        async def worker() -> None:
            nonlocal done
            for index, token in items:
                try:
                    results[index] = await self.refresh_account(token)
                except Exception as exc:  # noqa: BLE001 - one account never stops the batch
                    log.exception("refresh of %s… failed", token[:8])
                    results[index].error = _describe(exc)
                done += 1
                if progress is not None:
                    progress(done, len(toks), results[index])

        await asyncio.gather(*(worker() for _ in range(min(len(toks), self.concurrency()))))
        return results

    def live_tokens(self, pool: str | None = None) -> list[str]:
        return [a.token for a in self.pool.all() if a.deleted_at is None and a.status in _LIVE
                and (pool is None or a.pool == pool)]

    # ------------------------------------------------------------------ request triggers
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def request_after_call(self, token: str, mode: str) -> None:
        """After a successful call: refresh that mode in the background (quota strategy only).
        While one is in flight or waiting out the minimum interval for the same token and
        mode, one more is queued, not more."""
        if self._closed or mode not in MODES or not self.enabled:
            return
        key = (token, mode)
        if key in self._pending:
            self._again.add(key)
            return
        try:
            self._pending.add(key)
            self._spawn(self._after_call(key))
        except RuntimeError:  # no running loop
            self._pending.discard(key)

    async def _after_call(self, key: tuple[str, str]) -> None:
        token, mode = key
        try:
            while True:
                self._again.discard(key)
                last = self._probed_at.get(key)
                wait = 0.0 if last is None else last + self.after_call_interval() - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    self._again.discard(key)  # this probe answers the calls made meanwhile
                    if self._closed:
                        return
                self._probed_at[key] = self._clock()
                acc = self.pool.get(token)
                # never synced (a fresh import): a full refresh, which also settles the tier
                full = acc is not None and acc.last_sync_at is None
                try:
                    await self.refresh_account(token, None if full else [mode])
                except Exception:  # noqa: BLE001
                    log.exception("refresh after a call failed")
                if key not in self._again or self._closed:
                    return
        finally:
            self._pending.discard(key)
            self._again.discard(key)
            self._forget_old_probes()

    def probe_rate_limited(self, token: str, mode: str) -> None:
        """After a chat 429 on `mode`: probe that mode of that account now, in the background
        (quota strategy only; one probe per account and mode at a time)."""
        if self._closed or mode not in MODES or not self.enabled:
            return
        key = (token, mode)
        if key in self._rate_limited:
            return
        probe = self._probe_rate_limited(key)
        try:
            self._spawn(probe)
        except RuntimeError:  # no running loop
            probe.close()
            return
        self._rate_limited.add(key)

    async def _probe_rate_limited(self, key: tuple[str, str]) -> None:
        try:
            await self.refresh_account(key[0], [key[1]])
        except Exception:  # noqa: BLE001
            log.exception("probe after a 429 failed")
        finally:
            self._rate_limited.discard(key)

    def _forget_old_probes(self) -> None:
        """Keep `_probed_at` bounded: entries older than the interval no longer throttle."""
        if len(self._probed_at) <= 1024:
            return
        horizon = self._clock() - self.after_call_interval()
        self._probed_at = {k: t for k, t in self._probed_at.items()
                           if t > horizon or k in self._pending}

    async def on_demand(self) -> bool:
        """Refresh every live account, unless one ran less than `on_demand_min_interval_sec`
        ago; a refresh already running is joined. True when a refresh ran (or was joined)."""
        if self._closed or not self.enabled:
            return False
        task = self._on_demand_task
        if task is None or task.done():
            now = self._clock()
            gap = self.settings.options.account.refresh.on_demand_min_interval_sec
            if self._last_on_demand is not None and now - self._last_on_demand < gap:
                return False
            self._last_on_demand = now
            task = self._on_demand_task = self._spawn(self.refresh_many(self.live_tokens()))
        await asyncio.shield(task)
        return True

    def trigger_on_demand(self) -> None:
        """`on_demand` in the background (from a synchronous hook, e.g. after a chat 429)."""
        if self._closed or not self.enabled:
            return
        try:
            self._spawn(self.on_demand())
        except RuntimeError:
            pass

    # ------------------------------------------------------------------ scheduler
    def start(self) -> None:
        """Start the per-pool loops if this process leads (at once when no lease is needed),
        and the task that keeps trying for (and renewing) the leadership."""
        self._closed = False
        if self._supervisor is not None:
            return
        if self._lease is None:  # with a lease, the `elect` that follows decides
            if self._lock.try_acquire():
                self._start_loops()
            else:
                self._follow("lock")
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def elect(self) -> bool:
        """One round: take the DATA_DIR lock, take or renew the lease, and start or stop the
        loops to match. A lease call that fails keeps the current state (no flapping)."""
        if self._elect_lock is None:
            self._elect_lock = asyncio.Lock()
        async with self._elect_lock:
            if self._closed:
                return False
            if not self._lock.try_acquire():
                self._follow("lock")
                return False
            answered = True  # False: the lease store did not answer, so who holds it is unknown
            if self._lease is not None:
                try:
                    self._lease_held = await self._lease(LEASE_NAME, LEASE_TTL_SEC)
                except Exception:  # noqa: BLE001 - the database may be away for a moment
                    log.warning("quota scheduler: lease %s could not be renewed", LEASE_NAME,
                                exc_info=True)
                    answered = False
            if self._lease_held and not self._loops:
                self._start_loops()
            elif not self._lease_held:
                if self._loops:
                    await self._stop_loops()
                if answered:
                    self._follow("lease")
            return self.is_leader

    def _follow(self, why: str) -> None:
        """Log, once per change, that another process leads and why this one knows it."""
        if self._role == why:
            return
        self._role = why
        if why == "lock":
            pid = self._lock.holder_pid()
            log.info("quota scheduler: another process%s holds %s; this one follows",
                     f" (pid {pid})" if pid else "", LOCK_NAME)
        else:
            log.info("quota scheduler: another instance holds the lease %s; this process "
                     "follows", LEASE_NAME)

    async def _supervise(self) -> None:
        while True:
            try:
                await self.elect()
            except Exception:  # noqa: BLE001
                log.exception("quota scheduler election failed")
            await asyncio.sleep(min(LEADER_RETRY_SEC, LEASE_TTL_SEC / 3))

    def _start_loops(self) -> None:
        if self._role != "leader":
            self._role = "leader"
            log.info("quota scheduler: this process leads (%s%s)", LOCK_NAME,
                     f", lease {LEASE_NAME}" if self._lease is not None else "")
        loop = asyncio.get_running_loop()
        for pool in POOLS:
            self._loops.append(loop.create_task(self._pool_loop(pool), name=f"quota-{pool}"))

    async def _stop_loops(self) -> None:
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    def due_tokens(self, pool: str) -> list[str]:
        """Live accounts of `pool` whose last sync is older than the pool's interval (never
        synced first), skipping those tried recently."""
        interval = self.interval(pool)
        now, mono = now_ms(), self._clock()
        retry_after = min(interval, RETRY_FAILED_AFTER_SEC)
        due: list[tuple[int, str]] = []
        for acc in self.pool.all():
            if acc.pool != pool or acc.deleted_at is not None or acc.status not in _LIVE:
                continue
            if acc.last_sync_at is not None and now - acc.last_sync_at < interval * 1000:
                continue
            tried = self._attempted.get(acc.token)
            if tried is not None and mono - tried < retry_after:
                continue
            due.append((acc.last_sync_at or 0, acc.token))
        return [token for _, token in sorted(due)]

    async def _pool_loop(self, pool: str) -> None:
        while True:
            if self.enabled:
                try:
                    due = self.due_tokens(pool)
                    if due:
                        results = await self.refresh_many(due)
                        log.info("quota refresh %s: %d/%d accounts synced", pool,
                                 sum(r.ok for r in results), len(results))
                except Exception:  # noqa: BLE001 - the loop outlives one bad round
                    log.exception("scheduled quota refresh of %s failed", pool)
            await asyncio.sleep(min(self.interval(pool), self.tick))

    async def stop(self) -> None:
        self._closed = True
        tasks = [*self._loops, *self._tasks]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._supervisor = None
        self._loops.clear()
        self._tasks.clear()
        self._pending.clear()
        self._again.clear()
        self._rate_limited.clear()
        self._on_demand_task = None
        if self._lease is not None and self._lease_held and self._release_lease is not None:
            try:
                await self._release_lease(LEASE_NAME)
            except Exception:  # noqa: BLE001 - it expires anyway
                log.warning("quota scheduler: lease %s not released", LEASE_NAME)
        self._lease_held = self._lease is None
        self._role = None
        self._lock.release()
