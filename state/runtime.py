"""Wiring of the account state for one process: database thread, store, usage book,
write-behind writer, pool, the sync poller, optional Redis and the Responses continuation map.
Built without I/O; `start()` migrates, loads and starts the poller."""
from __future__ import annotations

import gc
import os
import socket
import uuid
from typing import TYPE_CHECKING

import peewee

from state.continuations import ContinuationStore
from state.db import open_database
from state.dbthread import DBThread
from state.leases import release_lease, try_lease
from state.local_import import import_local_accounts
from state.migrations import migrate
from state.pool import AccountPool
from state.store import AccountStore
from state.sync import AccountSync
from state.usage_book import UsageBook
from state.writer import WriteBehind

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig
    from state.redis_link import RedisLink
    from state.options import Loader
    from state.settings import Settings

__all__ = ["AccountState"]


class AccountState:
    """`pool` and `ledger` are usable at once (changes queue in memory); `await start()`
    inside the serving event loop before the first request, `await stop()` at shutdown."""

    @staticmethod
    def load(loader: Loader) -> None:
        """Read at startup, except the continuation lifetime, which applies at once."""
        loader.add_option("account.save_delay_ms", int, 500,
                          "Write-behind delay in milliseconds: changes are saved in one "
                          "transaction at most this late. Read at startup.")
        loader.add_option("responses.continuation_ttl_sec", int, 86400,
                          "Seconds a stored /v1/responses answer (request `store`, default true) "
                          "can be continued with `previous_response_id` on its upstream "
                          "conversation (mgw transport); older ids fall back to the history the "
                          "client sends. Expired entries are deleted from the database; 0 = off.")

    def __init__(self, boot: BootConfig, settings: Settings) -> None:
        self.boot = boot
        self.db = open_database(boot)
        #: This process among the instances, as a lease holder.
        self.instance = f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.thread = DBThread(self.db)
        self.store = AccountStore(self.db)
        opts = settings.options.account
        self.writer = WriteBehind(self.thread, self.store, delay_ms=opts.save_delay_ms)
        self.pool = AccountPool(self.writer)
        #: the usage ledger: usage per hour and day, and the request audit log (written behind)
        self.ledger = UsageBook(
            self.thread, delay_ms=settings.options.audit.save_delay_ms,
            limits=lambda: (settings.options.audit.retention_days,
                            settings.options.audit.max_rows))
        self.continuations = ContinuationStore(
            self.thread, delay_ms=opts.save_delay_ms,
            ttl_sec=lambda: settings.options.responses.continuation_ttl_sec)
        self.sync = AccountSync(self.thread, self.store, self.pool, self.writer,
                                active_interval=boot.sync_active_interval,
                                idle_interval=boot.sync_interval)
        self.redis: RedisLink | None = None
        if boot.redis_url:
            from state import redis_link  # only with REDIS_URL

            self.redis = redis_link.RedisLink(boot.redis_url, prefix=boot.redis_prefix)
            self.writer.on_commit = self.redis.signal

    @property
    def revision(self) -> int:
        """The database revision the in-memory pool has caught up with."""
        return self.sync.revision

    async def start(self) -> None:
        await self.thread.run(migrate, self.db)
        if self._shared_db:
            await self.thread.run(import_local_accounts, self.db, self.boot.account_local_path)
        revision = await self.thread.run(self.store.revision)
        self.pool.load(await self.thread.run(self.store.load_all))
        # a table of 100,000 accounts is millions of long-lived objects: a full collection
        # walking them held the event loop for ~150 ms; frozen, collections skip them
        gc.freeze()
        self.writer.start()
        self.sync.start(revision)
        if self.redis is not None:
            await self.redis.start(self.pool, self.sync.poke)
        await self.continuations.start()
        await self.ledger.start()

    async def sync_now(self) -> int:
        """The forced sync (`POST /admin/api/sync`): save what is pending here, then merge what
        the other workers and instances wrote. Returns how many accounts came in changed."""
        await self.writer.flush_now()
        return await self.sync.sync_now()

    @property
    def _shared_db(self) -> bool:
        """A server database (PostgreSQL, MySQL) that instances on several hosts may share."""
        return not isinstance(self.db, peewee.SqliteDatabase)

    async def lease(self, name: str, ttl_sec: float) -> bool:
        """Take or renew a named lease for `ttl_sec`: one holder among the instances sharing
        Redis, else among those sharing a server database. On SQLite (one host, where the
        file lock of DATA_DIR decides) every process holds it."""
        if self.redis is not None:
            return await self.redis.try_lease(name, ttl_sec)
        if not self._shared_db:
            return True
        return await self.thread.run(try_lease, self.db, name, self.instance,
                                     int(ttl_sec * 1000))

    async def release_lease(self, name: str) -> None:
        """Give a database lease up at once (a Redis lease simply expires)."""
        if self.redis is None and self._shared_db:
            await self.thread.run(release_lease, self.db, name, self.instance)

    async def reload(self) -> None:
        """Replace the in-memory table with the database's (after a CLI import, say).
        Pending changes are saved first so nothing of this process is lost."""
        await self.writer.flush_now()
        async with self.writer.lock:
            if self.redis is not None:
                self.redis.clear_peers()  # `load` carries `inflight` over: ours only
            self.sync.revision = await self.thread.run(self.store.revision)
            self.pool.load(await self.thread.run(self.store.load_all))

    async def stop(self) -> None:
        try:
            try:
                await self.sync.stop()
                if self.redis is not None:
                    await self.redis.stop()
                await self.continuations.stop()
                await self.ledger.stop()
            finally:
                await self.writer.stop()
        finally:
            await self.thread.aclose()
