"""Write-behind: dirty accounts are saved in ONE transaction on the
database thread, at most `delay_ms` after the first change of a burst (a throttle rather than
a sliding debounce, so a steady stream of requests still gets saved).

Several processes may write the same accounts, so a save is not a blind overwrite: each dirty
account goes with the record it was derived from (`Account.synced`), and the store merges this
process's changes into the row as it is now (`state.merge`): counters as increments, a status
only where this process changed it. After the save `synced` is the snapshot written, so the
next save carries only what changed since.

The snapshots are taken on the event loop (the accounts live there) in slices of `SLICE`,
handing the loop back in between, so a flush of 10,000 dirty accounts never holds up the
requests being served; the transaction itself runs on the database thread. An account changed
after its snapshot is marked dirty again and goes with the next flush."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from state.debounce import DebouncedFlush
from state.merge import account_record

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from state.account import Account
    from state.dbthread import DBThread
    from state.store import AccountStore

__all__ = ["SLICE", "WriteBehind"]

log = logging.getLogger(__name__)

#: Accounts snapshotted (or updated after the save) between two turns of the event loop.
SLICE = 500


class WriteBehind(DebouncedFlush):
    def __init__(self, db: DBThread, store: AccountStore, *, delay_ms: int = 500) -> None:
        super().__init__(delay_ms)
        self.db = db
        self.store = store
        self._dirty: dict[str, Account] = {}
        #: Transactions written so far (for tests and metrics).
        self.transactions = 0
        #: Called with the revision after each saved transaction (the Redis signal).
        self.on_commit: Callable[[int], None] | None = None

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a save runs; the sync poller holds it while it merges peers' rows, so
        `synced` never moves under a save."""
        return super().lock

    def is_dirty(self, token: str) -> bool:
        return token in self._dirty

    @property
    def pending(self) -> int:
        return len(self._dirty)

    def start(self) -> None:
        """Bind to the running event loop; changes marked before are scheduled now."""
        self._bind()
        if self.pending:
            self._schedule()

    def mark(self, account: Account, *, urgent: bool = False) -> None:
        """Remember `account` as dirty; `urgent` saves it without waiting for the delay."""
        self._dirty[account.token] = account
        self._schedule(urgent)

    async def _flush(self, *, raise_errors: bool) -> None:
        async with self.lock:
            if not self.pending:
                return
            accounts = list(self._dirty.values())
            self._dirty.clear()
            # snapshot while on the loop: (what it was derived from, what it is now)
            items: list[tuple[Any, Any]] = []
            for first in range(0, len(accounts), SLICE):
                if first:
                    await asyncio.sleep(0)  # let the requests run
                items.extend((a.synced, account_record(a)) for a in accounts[first:first + SLICE])
            try:
                revision = await self.db.run(self.store.write_merged, items)
            except Exception:
                for acc in accounts:
                    self._dirty.setdefault(acc.token, acc)
                self._failures += 1
                log.exception("write-behind flush failed (%d accounts); retrying", len(items))
                self._retry_later()
                if raise_errors:
                    raise
                return
            self._failures = 0
            self.transactions += 1
            for n, (acc, (_, mine)) in enumerate(zip(accounts, items)):
                if n and not n % SLICE:
                    await asyncio.sleep(0)
                acc.revision = revision
                acc.synced = mine
            if self.on_commit is not None and items:
                self.on_commit(revision)
