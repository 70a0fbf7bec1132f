"""Timer-driven saving behind the event loop, shared by the write-behind stores.

Changes are marked in memory; one timer per store fires at the earliest deadline asked for,
and the save runs as a background task under the store's lock. A failed save keeps its
changes (the subclass puts them back) and retries with exponential backoff.
"""
from __future__ import annotations

import asyncio
import threading

MAX_RETRY_DELAY = 30.0


class DebouncedFlush:
    """Subclasses implement `_flush(raise_errors=…)` and call `_bind()` inside the loop."""

    def __init__(self, delay_ms: int) -> None:
        self.delay = max(0, delay_ms) / 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures = 0
        self._stopped = False

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a save runs."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._lock = asyncio.Lock()
        self._stopped = False

    def _schedule(self, urgent: bool = False) -> None:
        """Save within the delay (at once when `urgent`); safe to call from any thread."""
        loop = self._loop
        if loop is None or self._stopped:
            return
        if threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._schedule, urgent)
            return
        self._fire_at(loop, 0.0 if urgent else self.delay, sooner_only=True)

    def _retry_later(self) -> None:
        loop = self._loop
        if loop is None or self._stopped:
            return
        delay = min(MAX_RETRY_DELAY, max(self.delay, 0.5) * 2 ** min(self._failures, 6))
        self._fire_at(loop, delay, sooner_only=False)

    def _fire_at(self, loop: asyncio.AbstractEventLoop, delay: float, *, sooner_only: bool) -> None:
        due = loop.time() + delay
        if self._timer is not None:
            if sooner_only and due >= self._timer_due:
                return  # a save is already due sooner
            self._timer.cancel()
        self._timer_due = due
        self._timer = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._flush(raise_errors=False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, *, raise_errors: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def flush_now(self) -> None:
        """Save everything pending now; raises if the database write fails."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._flush(raise_errors=True)

    async def stop(self) -> None:
        """Final save; later changes are kept in memory but no longer scheduled."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.flush_now()
        finally:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
