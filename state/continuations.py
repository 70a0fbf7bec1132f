"""The continuation map of the Responses API: `resp_…` id → (account token, upstream
conversation id, upstream response id, model, created).

On the request path nothing touches the database from the event loop: `record()` keeps the
entry in memory and saves it behind (throttled, one transaction, on the database thread);
`get()` answers from memory and, on a miss, looks the id up once on the database thread (an
entry written before a restart, or by another worker). Entries older than
`responses.continuation_ttl_sec` are ignored on read and deleted by a periodic purge, so the
table stays bounded; the in-memory part is a small LRU.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from state.debounce import DebouncedFlush
from state.models import ContinuationRow

if TYPE_CHECKING:  # pragma: no cover
    from state.dbthread import DBThread

__all__ = ["ContinuationEntry", "ContinuationStore"]

log = logging.getLogger(__name__)

DEFAULT_TTL_SEC = 86400
#: Seconds between two purges of expired rows (one also runs at start).
PURGE_INTERVAL = 3600.0
_BATCH = 100


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ContinuationEntry:
    response_id: str  # the gateway's resp_… id
    token: str  # the account that holds the upstream conversation
    conversation_id: str
    upstream_response_id: str  # the assistant turn to continue from
    model: str
    created_at: int  # ms


def _write(rows: list[dict], cutoff: int | None) -> None:
    """On the database thread: insert `rows`, then delete rows created before `cutoff`."""
    db = ContinuationRow._meta.database
    with db.atomic():
        for i in range(0, len(rows), _BATCH):
            ContinuationRow.insert_many(rows[i:i + _BATCH]).on_conflict_ignore().execute()
        if cutoff is not None:
            ContinuationRow.delete().where(ContinuationRow.created_at < cutoff).execute()


def _load(response_id: str) -> ContinuationEntry | None:
    row = ContinuationRow.get_or_none(ContinuationRow.response_id == response_id)
    if row is None:
        return None
    return ContinuationEntry(row.response_id, row.token, row.conversation_id,
                        row.upstream_response_id, row.model, int(row.created_at))


class ContinuationStore(DebouncedFlush):
    """`start()` inside the serving loop (after the migrations), `stop()` before the database
    thread closes. `ttl_sec` is read on every use, so a settings change applies at once."""

    def __init__(self, db: DBThread, *, ttl_sec: Callable[[], int] = lambda: DEFAULT_TTL_SEC,
                 delay_ms: int = 500, cache_size: int = 4096) -> None:
        super().__init__(delay_ms)
        self.db = db
        self.ttl_sec = ttl_sec
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[str, ContinuationEntry] = OrderedDict()
        self._pending: dict[str, ContinuationEntry] = {}
        self._next_purge = 0.0  # loop time; 0 = purge with the first flush

    # ---- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._bind()
        try:
            await self.flush_now()  # purges what expired while the process was down
        except Exception:  # noqa: BLE001 - logged and retried; never blocks the start
            pass

    # ---- request path -----------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """A TTL of 0 turns continuation off (answers stay temporary, nothing is recorded)."""
        return self.ttl_sec() > 0

    def _expired(self, entry: ContinuationEntry, now: int) -> bool:
        return entry.created_at + max(0, self.ttl_sec()) * 1000 < now

    def _remember(self, entry: ContinuationEntry) -> None:
        self._cache[entry.response_id] = entry
        self._cache.move_to_end(entry.response_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def record(self, entry: ContinuationEntry) -> None:
        """Remember `entry` now; it reaches the database within the write-behind delay."""
        self._remember(entry)
        self._pending[entry.response_id] = entry
        self._schedule()

    async def get(self, response_id: str) -> ContinuationEntry | None:
        """The live entry for `response_id`, or None (unknown, expired, or the database is
        unreachable: a continuation is an optimisation, never a reason to fail)."""
        now = now_ms()
        entry = self._pending.get(response_id) or self._cache.get(response_id)
        if entry is None and not self._stopped:
            try:
                entry = await self.db.run(_load, response_id)
            except Exception:  # noqa: BLE001
                log.warning("continuation lookup of %s failed", response_id, exc_info=True)
                return None
            if entry is not None:
                self._remember(entry)
        if entry is None or self._expired(entry, now):
            return None
        return entry

    def __len__(self) -> int:
        return len(self._pending)

    # ---- write-behind -----------------------------------------------------------------
    async def _flush(self, *, raise_errors: bool) -> None:
        async with self.lock:
            loop = asyncio.get_running_loop()
            purge = loop.time() >= self._next_purge
            if not self._pending and not purge:
                return
            entries = list(self._pending.values())
            self._pending.clear()
            cutoff = now_ms() - max(0, self.ttl_sec()) * 1000 if purge else None
            try:
                await self.db.run(_write, [asdict(e) for e in entries], cutoff)
            except Exception:
                for e in entries:
                    self._pending.setdefault(e.response_id, e)
                self._failures += 1
                log.exception("saving %d continuation entries failed; retrying", len(entries))
                self._retry_later()
                if raise_errors:
                    raise
                return
            self._failures = 0
            if purge:
                self._next_purge = loop.time() + PURGE_INTERVAL
