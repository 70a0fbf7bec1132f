"""A cheaper keep-alive idle timer for Hypercorn's asyncio connections.

Hypercorn (0.17–0.18) runs each connection's keep-alive timeout as a task that is created when
a response ends and cancelled — and awaited until the cancellation lands — when the next
request's head arrives. On a busy keep-alive connection that is a task, a cancellation and
two extra trips round the event loop per request, all before the app is even called: under
load each trip waits behind every other ready callback, and the request waits with it
(measured here: ~13 ms of a 28 ms p50 at 1,000 req/s).

`DeferredIdleTask` starts the connection's idle action only after the connection has been idle
for `GRACE` seconds; until then stopping it just cancels a timer. It records when the idle
period began (`since`) and how many there have been (`periods`), so the idle action can close
the connection at the right moment whatever the grace (`quart_app.connections` does).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

GRACE = 1.0


class DeferredIdleTask:
    """Hypercorn's `SingleTask` protocol: `restart(task_group, action)` and `stop()`."""

    __slots__ = ("_timer", "_task", "_lock", "since", "periods")

    def __init__(self) -> None:
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()  # uncontended, acquiring it never yields
        #: Loop time at which the current idle period began.
        self.since = 0.0
        #: Idle periods begun so far; the first is the wait for the connection's first request.
        self.periods = 0

    async def restart(self, task_group: Any, action: Callable[[], Any]) -> None:
        async with self._lock:
            await self._stop()
            loop = asyncio.get_running_loop()
            self.since = loop.time()
            self.periods += 1
            self._timer = loop.call_later(GRACE, self._start, task_group, action)

    def _start(self, task_group: Any, action: Callable[[], Any]) -> None:
        self._timer = None
        coro = action()
        try:
            self._task = task_group._task_group.create_task(coro)
        except RuntimeError:  # the connection's task group already ended
            coro.close()
            self._task = None

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
