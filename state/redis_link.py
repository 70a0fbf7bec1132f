"""Optional Redis (`REDIS_URL`) for what several instances must share live.

* The revision signal: after each save this process publishes on `<prefix>revision`; every
  other instance polls its database at once instead of within the sync interval.
* In-flight counts: every `interval` seconds this process writes its per-account lease counts
  to the hash `<prefix>inflight:<instance>` (expiring after a few intervals, so a killed
  instance's counts vanish) and reads the others' into `Account.peer_inflight`, which
  `Account.inflight` adds in: `max_inflight` then holds across instances (to within one
  interval of lag).
* Leases (`try_lease`): one holder per name at a time, e.g. a scheduler that only one instance
  should run.

Without Redis none of this runs and one instance works fully on its own. A Redis that goes
away is logged and ignored (peer counts drop to 0) until it answers again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from state.pool import AccountPool

__all__ = ["RedisLink"]

log = logging.getLogger(__name__)

#: Renews the lease if this instance holds it, takes it if free; 1 when held afterwards.
_LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisLink:
    def __init__(self, url: str, *, prefix: str = "grok2api:", interval: float = 0.5) -> None:
        self.url = url
        self.prefix = prefix
        self.interval = interval
        self.instance = uuid.uuid4().hex[:16]
        self.client: Any = None
        self._on_signal: Callable[[], None] | None = None
        self._pool: AccountPool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._peers: set[str] = set()
        self._healthy = True

    @property
    def channel(self) -> str:
        return self.prefix + "revision"

    @property
    def inflight_key(self) -> str:
        return f"{self.prefix}inflight:{self.instance}"

    async def start(self, pool: AccountPool, on_signal: Callable[[], None]) -> None:
        import redis.asyncio as redis  # only with REDIS_URL

        self.client = redis.from_url(self.url, decode_responses=True)
        self._pool, self._on_signal = pool, on_signal
        self._tasks = [asyncio.create_task(self._listen(), name="grok2api-redis-signal"),
                       asyncio.create_task(self._inflight_loop(), name="grok2api-redis-inflight")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.delete(self.inflight_key)
            with contextlib.suppress(Exception):
                await self.client.aclose()
            self.client = None

    def _trouble(self, what: str) -> None:
        if self._healthy:
            log.warning("redis: %s failed; working on local state until it answers",
                        what, exc_info=True)
        self._healthy = False

    # ------------------------------------------------------------------ revision signal
    def signal(self, revision: int) -> None:
        """Tell the other instances the database moved (fire and forget, from the loop)."""
        if self.client is None:
            return
        task = asyncio.ensure_future(self._publish(revision))
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _publish(self, revision: int) -> None:
        try:
            await self.client.publish(self.channel, f"{self.instance}:{revision}")
        except Exception:
            self._trouble("publish")

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.client.pubsub()
                await pubsub.subscribe(self.channel)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        sender = str(message.get("data", "")).split(":", 1)[0]
                        if sender != self.instance and self._on_signal is not None:
                            self._on_signal()
                finally:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._trouble("subscribe")
                await asyncio.sleep(max(1.0, self.interval))

    # ------------------------------------------------------------------ in-flight counts
    async def _inflight_loop(self) -> None:
        while True:
            try:
                await self.exchange_inflight()
                self._healthy = True
            except asyncio.CancelledError:
                raise
            except Exception:
                self._trouble("in-flight exchange")
                self._apply_peers({})
            await asyncio.sleep(self.interval)

    async def exchange_inflight(self) -> None:
        """Publish this instance's lease counts and take in the other instances'."""
        assert self._pool is not None
        local = {a.token: a.local_inflight for a in self._pool.all() if a.local_inflight}
        ttl_ms = int(max(2.0, self.interval * 6) * 1000)
        self._apply_peers(await exchange_counts(self.client, self.inflight_key,
                                                self.prefix + "inflight:*", local, ttl_ms))

    def _apply_peers(self, totals: dict[str, int]) -> None:
        if self._pool is None:
            return
        for token in self._peers - totals.keys():
            acc = self._pool.get(token)
            if acc is not None and acc.peer_inflight:
                acc.peer_inflight = 0
                self._pool.refresh(acc)  # the in-flight cap is checked against the sum
        for token, n in totals.items():
            acc = self._pool.get(token)
            if acc is not None and acc.peer_inflight != n:
                acc.peer_inflight = n
                self._pool.refresh(acc)
        self._peers = set(totals)

    def clear_peers(self) -> None:
        """Forget the peers' counts until the next exchange (before the pool is reloaded)."""
        self._apply_peers({})

    # ------------------------------------------------------------------ leases
    async def try_lease(self, name: str, ttl_sec: float) -> bool:
        """Take or renew the lease `name` for `ttl_sec`; False while another instance holds
        it. An unreachable Redis grants it (fails open, as without Redis: better twice than
        never)."""
        try:
            held = await self.client.eval(_LEASE, 1, f"{self.prefix}lease:{name}",
                                          self.instance, int(ttl_sec * 1000))
        except Exception:
            self._trouble("lease")
            return True
        return bool(held)


async def exchange_counts(client: Any, own_key: str, pattern: str, local: dict[str, int],
                          ttl_ms: int) -> dict[str, int]:
    """Publish this process's counts (a hash under `own_key` that expires unless renewed, so
    a dead process's counts vanish) and return the sums of every other process's hash
    matching `pattern`."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(own_key)
        if local:
            pipe.hset(own_key, mapping=local)
            pipe.pexpire(own_key, ttl_ms)
        await pipe.execute()
    keys = [k async for k in client.scan_iter(match=pattern, count=200) if k != own_key]
    totals: dict[str, int] = {}
    if keys:
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            for counts in await pipe.execute():
                for name, n in (counts or {}).items():
                    totals[name] = totals.get(name, 0) + int(n)
    return totals
