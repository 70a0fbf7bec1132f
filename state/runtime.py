"""Wiring of the account state for one process: database thread, store, usage ledger,
write-behind writer, pool and the Responses continuation map. Built without I/O; `start()`
migrates and loads."""
from __future__ import annotations

from typing import TYPE_CHECKING

from state.continuations import ContinuationStore
from state.db import open_database
from state.dbthread import DBThread
from state.migrations import migrate
from state.pool import AccountPool
from state.store import AccountStore
from state.usage import UsageLedger
from state.writer import WriteBehind

if TYPE_CHECKING:  # pragma: no cover
    from state.boot import BootConfig
    from state.settings import Settings

__all__ = ["AccountState"]


class AccountState:
    """`pool` and `ledger` are usable at once (changes queue in memory); `await start()`
    inside the serving event loop before the first request, `await stop()` at shutdown."""

    def __init__(self, boot: BootConfig, settings: Settings) -> None:
        self.db = open_database(boot)
        self.thread = DBThread(self.db)
        self.store = AccountStore(self.db)
        self.ledger = UsageLedger()
        self.writer = WriteBehind(self.thread, self.store,
                                  delay_ms=settings.int("account.save_delay_ms", 500),
                                  usage=self.ledger)
        self.pool = AccountPool(self.writer,
                                fail_threshold=settings.int("account.fail_threshold", 5),
                                fail_cooldown_sec=settings.int("account.fail_cooldown_sec", 900))
        self.continuations = ContinuationStore(
            self.thread, delay_ms=settings.int("account.save_delay_ms", 500),
            ttl_sec=lambda: settings.int("responses.continuation_ttl_sec", 86400))
        self.revision = 0

    async def start(self) -> None:
        await self.thread.run(migrate, self.db)
        self.revision = await self.thread.run(self.store.revision)
        self.pool.load(await self.thread.run(self.store.load_all))
        self.writer.start()
        await self.continuations.start()

    async def reload(self) -> None:
        """Replace the in-memory table with the database's (after a CLI import, say).
        Pending changes are saved first so nothing of this process is lost."""
        await self.writer.flush_now()
        self.revision = await self.thread.run(self.store.revision)
        self.pool.load(await self.thread.run(self.store.load_all))

    async def stop(self) -> None:
        try:
            try:
                await self.continuations.stop()
            finally:
                await self.writer.stop()
        finally:
            await self.thread.aclose()
