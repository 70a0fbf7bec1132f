"""Multi-worker and multi-instance account sync.

The database is the source of truth. Every account write bumps a global revision; this poller
reads that revision every `active_interval` seconds (3) while things change, backing off to
`idle_interval` (30) after `idle_polls` (5) polls without a change. When the revision moved,
the rows written since are loaded on the database thread and three-way merged into the pool
(`state.merge`): another process's disable, delete, expiry or cooldown lands here, this
process's unsaved changes stay and are saved later on top. `poke()` polls at once (the Redis
revision signal); `sync_now()` is the forced sync of `POST /admin/api/sync`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from state.account import Account, now_ms
from state.merge import account_record, apply_record, merge_records

if TYPE_CHECKING:  # pragma: no cover
    from state.dbthread import DBThread
    from state.pool import AccountPool
    from state.store import AccountStore
    from state.writer import WriteBehind

__all__ = ["AccountSync"]

log = logging.getLogger(__name__)

#: Incoming accounts merged between two turns of the event loop.
MERGE_SLICE = 1000


class AccountSync:
    def __init__(self, thread: DBThread, store: AccountStore, pool: AccountPool,
                 writer: WriteBehind, *, active_interval: float = 3.0,
                 idle_interval: float = 30.0, idle_polls: int = 5) -> None:
        self.thread = thread
        self.store = store
        self.pool = pool
        self.writer = writer
        self.active_interval = active_interval
        self.idle_interval = max(active_interval, idle_interval)
        self.idle_polls = idle_polls
        #: The database revision this process has merged up to.
        self.revision = 0
        #: Polls done and accounts merged from the database (for tests and metrics).
        self.polls = 0
        self.merged = 0
        self._idle = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """The wait before the next poll."""
        return self.idle_interval if self._idle >= self.idle_polls else self.active_interval

    def start(self, revision: int) -> None:
        """Begin polling from `revision` (what the pool was loaded at)."""
        self.revision = revision
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="grok2api-account-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        """Poll now (another instance signalled a write), and stay at the active interval."""
        self._idle = 0
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            before = self.revision
            try:
                await self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("account sync failed; retrying", exc_info=True)
            self._idle = 0 if self.revision != before else self._idle + 1

    async def sync_now(self) -> int:
        """Merge what other processes wrote since the last sync. Returns how many accounts
        came in changed (0 when the revision did not move)."""
        async with self.writer.lock:  # no save in between: `synced` stays consistent
            self.polls += 1
            revision = await self.thread.run(self.store.revision)
            if revision == self.revision:
                return 0
            if revision < self.revision:  # the database was replaced: take all of it
                incoming = await self.thread.run(self.store.load_all)
            else:
                incoming = await self.thread.run(self.store.load_since, self.revision)
            self.revision = revision
            changed = 0
            for first in range(0, len(incoming), MERGE_SLICE):
                if first:
                    await asyncio.sleep(0)  # a big batch (an import elsewhere): let requests run
                changed += self.merge(incoming[first:first + MERGE_SLICE])
            self.merged += changed
            return changed

    def merge(self, incoming: list[Account]) -> int:
        """Three-way merge `incoming` (as the database holds them) into the pool."""
        ts = now_ms()
        updates: list[Account] = []
        for theirs in incoming:
            cur = self.pool.get(theirs.token)
            if cur is None:
                updates.append(theirs)
                continue
            if cur.synced == theirs.synced:  # our own save coming back: nothing new
                cur.revision = max(cur.revision, theirs.revision)
                continue
            assert theirs.synced is not None
            mine = account_record(cur)
            merged = merge_records(cur.synced, mine, theirs.synced, ts)
            if merged != theirs.synced and not self.writer.is_dirty(cur.token):
                self.writer.mark(cur)  # changes of ours the database lacks: save them
            if merged == mine:
                cur.synced, cur.revision = theirs.synced, max(cur.revision, theirs.revision)
                continue
            update = Account(token=theirs.token)
            apply_record(update, merged)
            update.revision, update.synced = max(cur.revision, theirs.revision), theirs.synced
            restored_before = (cur.synced or {}).get("ext", {}).get("restored_at")
            if cur.runtime_expired and update.ext.get("restored_at") != restored_before \
                    and update.status == "active":
                cur.runtime_expired = False  # an operator enabled it elsewhere
            updates.append(update)
        return self.pool.merge(updates)
