"""The client keys' shared counters in Redis (with `REDIS_URL`).

* Counters: one hash per (key, bucket), `<prefix>keyc:<key id>:<bucket>`, fields as
  `COUNTER_FIELDS`; each process adds its increments (HINCRBY) and reads the totals back in
  one pipeline per sync; the hashes expire after their window.
* Concurrency: each process writes its open requests per key to
  `<prefix>keyconc:<instance>` (expiring after a few intervals, so a killed process's
  requests vanish) and sums the other processes' hashes.
"""
from __future__ import annotations

from typing import Any

from state.keys_limits import Bucket
from state.keys_store import COUNTER_FIELDS
from state.redis_link import exchange_counts

__all__ = ["RedisKeyCounters"]


class RedisKeyCounters:
    def __init__(self, client: Any, prefix: str, instance: str) -> None:
        self.client = client
        self.prefix = prefix
        self.instance = instance

    def _key(self, bucket: Bucket) -> str:
        return f"{self.prefix}keyc:{bucket[0]}:{bucket[1]}"

    @property
    def conc_key(self) -> str:
        return f"{self.prefix}keyconc:{self.instance}"

    async def push_pull(self, deltas: dict[Bucket, list[int]], ttl_ms: dict[Bucket, int],
                        watched: list[Bucket]) -> dict[Bucket, list[int]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for bucket, values in deltas.items():
                if not any(values):
                    continue
                key = self._key(bucket)
                for name, value in zip(COUNTER_FIELDS, values):
                    if value:
                        pipe.hincrby(key, name, value)
                pipe.pexpire(key, ttl_ms[bucket])
            for bucket in watched:
                pipe.hgetall(self._key(bucket))
            results = await pipe.execute()
        totals: dict[Bucket, list[int]] = {}
        for bucket, found in zip(watched, results[len(results) - len(watched):]):
            if found:
                totals[bucket] = [int(found.get(name, 0)) for name in COUNTER_FIELDS]
        return totals

    async def exchange_concurrency(self, local: dict[str, int], ttl_ms: int) -> dict[str, int]:
        """Publish this process's open requests per key; the other processes' sums."""
        return await exchange_counts(self.client, self.conc_key, self.prefix + "keyconc:*",
                                     local, ttl_ms)

    async def forget(self) -> None:
        await self.client.delete(self.conc_key)
