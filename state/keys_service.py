"""The client keys of one process: the table in memory, the limits, and their sync.

The request path only reads memory: `find()` (a dict look-up by the key's hash), `admit()`
and `settle()` (`state.keys_limits`). A background task, every `keys.sync_interval_sec`:

* polls the keys' revision and reloads the table when another process changed it (a change
  made here is loaded at once, so it is effective in this worker now and in every other
  within one interval);
* sends this process's counter increments and reads the shared totals back (Redis when
  `REDIS_URL` is set, else the database), and with Redis exchanges the open requests per key;
* writes `last_used_at` of the keys used, at most once a minute per key, and prunes expired
  counter rows (database) once an hour.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from state import keys_store as store
from state.keys import KeyRecord, hash_key
from state.keys_limits import (
    Admission, Bucket, KeyCounters, Refusal, bucket_expiry, day_bucket, minute_bucket,
)
from state.options import Loader

if TYPE_CHECKING:  # pragma: no cover
    from state.dbthread import DBThread
    from state.redis_link import RedisLink

__all__ = ["KeyService"]

log = logging.getLogger(__name__)

#: `last_used_at` is written at most this often per key (ms).
LAST_USED_RESOLUTION_MS = 60_000
PRUNE_INTERVAL_SEC = 3600.0
#: client key values whose hash `find` remembers (bounded: emptied when full)
DIGEST_CACHE_SIZE = 1024


class KeyService:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("keys.sync_interval_sec", float, 1.0,
                          "Seconds between two syncs of the managed client keys: the keys "
                          "table is re-read when another process changed it, and the usage "
                          "counters (requests per minute, daily quotas, concurrency with "
                          "Redis) are shared with the other workers and instances. A limit "
                          "may be exceeded by what the other processes let in during one "
                          "interval.")

    def __init__(self, thread: DBThread, settings: Any, redis: RedisLink | None = None) -> None:
        self.thread = thread
        self.settings = settings
        self.redis_link = redis
        self.counters = KeyCounters()
        self.revision = -1
        self._by_hash: dict[str, KeyRecord] = {}
        self._by_id: dict[str, KeyRecord] = {}
        #: the SHA-256 of the keys clients sent lately (the same few keys, request after
        #: request); a digest never goes stale, so a reload leaves it alone
        self._digests: dict[str, str] = {}
        self._remote: Any = None  # RedisKeyCounters once started with Redis
        self._task: asyncio.Task[None] | None = None
        self._written_used: dict[str, int] = {}
        self._next_prune = 0.0
        self._healthy = True
        self._lock: asyncio.Lock | None = None

    # ------------------------------------------------------------------ the table
    @property
    def has_keys(self) -> bool:
        """Managed keys exist (then /v1 is not open, even without `app.api_key`)."""
        return bool(self._by_id)

    def find(self, key: str) -> KeyRecord | None:
        digest = self._digests.get(key)
        if digest is None:
            if len(self._digests) >= DIGEST_CACHE_SIZE:
                self._digests.clear()  # a flood of unknown keys only costs a re-hash
            digest = self._digests[key] = hash_key(key)
        return self._by_hash.get(digest)

    def get(self, key_id: str) -> KeyRecord | None:
        return self._by_id.get(key_id)

    def all(self) -> list[KeyRecord]:
        return list(self._by_id.values())

    def _install(self, revision: int, records: Sequence[KeyRecord]) -> None:
        self.revision = revision
        self._by_id = {r.id: r for r in records}
        self._by_hash = {r.key_hash: r for r in records}

    async def reload(self) -> None:
        revision, records = await self.thread.run(store.load_keys)
        self._install(revision, records)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._lock = asyncio.Lock()
        await self.reload()
        if self.redis_link is not None and self.redis_link.client is not None:
            from state.keys_redis import RedisKeyCounters

            self._remote = RedisKeyCounters(self.redis_link.client, self.redis_link.prefix,
                                            self.redis_link.instance)
        with contextlib.suppress(Exception):
            await self.sync_once()
        self._task = asyncio.create_task(self._run(), name="grok2api-keys-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            self.counters.local.clear()
            await self.sync_once()  # the last increments, and no open requests left
        if self._remote is not None:
            with contextlib.suppress(Exception):
                await self._remote.forget()

    @property
    def interval(self) -> float:
        return max(0.05, float(self.settings.options.keys.sync_interval_sec))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync_once()
                self._healthy = True
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._healthy:
                    log.warning("client keys sync failed; limits use local counts until it "
                                "works again", exc_info=True)
                self._healthy = False
                self.counters.peers = {}  # stale counts of other processes would block keys

    async def sync_once(self) -> None:
        assert self._lock is not None
        async with self._lock:
            revision = await self.thread.run(store.keys_revision)
            if revision != self.revision:
                await self.reload()
            await self._sync_counters()
            await self._write_last_used()
            now = time.monotonic()
            if self._remote is None and now >= self._next_prune:
                self._next_prune = now + PRUNE_INTERVAL_SEC
                await self.thread.run(store.prune_counters, int(time.time() * 1000))

    def _watched(self, now: float) -> list[Bucket]:
        """The buckets whose totals this process needs: every key's today (the admin API
        shows it) and the last two minutes of a key with an rpm."""
        day = day_bucket(now)
        minute = int(now // 60)
        out: list[Bucket] = []
        for rec in self._by_id.values():
            out.append((rec.id, day))
            if rec.policy.rpm is not None:
                out += [(rec.id, minute_bucket(minute)), (rec.id, minute_bucket(minute - 1))]
        return out

    async def _sync_counters(self) -> None:
        now = time.time()
        deltas = self.counters.drain()
        watched = self._watched(now)
        expiry = {b: bucket_expiry(b[1], now) for b in deltas}
        try:
            if self._remote is not None:
                ttl = {b: max(1000, at - int(now * 1000)) for b, at in expiry.items()}
                totals = await self._remote.push_pull(deltas, ttl, watched)
            else:
                totals = await self.thread.run(_push_pull_db, deltas, expiry, watched)
        except BaseException:
            self.counters.restore(deltas)
            raise
        self.counters.take_totals(totals, watched)
        if self._remote is not None:
            ttl_ms = int(max(2.0, self.interval * 6) * 1000)
            self.counters.peers = await self._remote.exchange_concurrency(
                dict(self.counters.local), ttl_ms)

    async def _write_last_used(self) -> None:
        due = {k: at for k, at in self.counters.used.items()
               if at - self._written_used.get(k, 0) >= LAST_USED_RESOLUTION_MS}
        if due:
            await self.thread.run(store.touch_last_used, due)
            self._written_used.update(due)

    # ------------------------------------------------------------------ request path
    def admit(self, rec: KeyRecord, charges: dict[str, int]) -> Admission | Refusal:
        return self.counters.admit(rec, charges)

    def settle(self, admission: Admission, tokens: int, failed: bool) -> None:
        self.counters.settle(admission, tokens, failed)

    # ------------------------------------------------------------------ operators
    def resolve(self, ident: str) -> KeyRecord | None:
        """A key named by its id or by its full value."""
        return self._by_id.get(ident) or self._by_hash.get(hash_key(ident))

    async def create(self, records: Sequence[KeyRecord]) -> list[KeyRecord]:
        stored = await self.thread.run(store.insert_keys, list(records))
        await self.reload()
        return stored

    async def update(self, record: KeyRecord) -> KeyRecord | None:
        stored = await self.thread.run(store.update_key, record)
        await self.reload()
        return stored

    async def set_enabled(self, ids: Sequence[str], enabled: bool) -> int:
        changed = await self.thread.run(store.set_enabled, list(ids), enabled)
        await self.reload()
        return changed

    async def delete(self, ids: Sequence[str]) -> int:
        gone = await self.thread.run(store.delete_keys, list(ids))
        await self.reload()
        return gone

    def usage_today(self, key_id: str) -> dict[str, int]:
        return self.counters.day_counts(key_id)

    def today(self) -> str:
        return day_bucket(time.time())[2:]


def _push_pull_db(deltas: dict[Bucket, list[int]], expiry: dict[Bucket, int],
                  watched: list[Bucket]) -> dict[Bucket, list[int]]:
    """On the database thread: add the increments, then read the watched totals."""
    if deltas:
        store.add_counters(deltas, expiry)
    ids = {b[0] for b in watched}
    names = {b[1] for b in watched}
    found = store.read_counters(ids, names)
    wanted = set(watched)
    return {b: v for b, v in found.items() if b in wanted}
