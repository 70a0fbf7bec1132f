"""Noticing a client's `http.disconnect` while a hot route runs, without a task per request.

Once the body has been read, the only message still to come from the server is the client's
disconnect, and Hypercorn's `receive` is the bound `get` of the request's `asyncio.Queue`.
Waiting for that message with a task of its own costs a task, a coroutine and a future per
request, created and cancelled again (at 1,000 open streams, 1,000 tasks). Instead a future is
put among the queue's waiting getters: the server's `put` of the next message resolves it,
and its done-callback takes the message and, for a disconnect, cancels the request's task.

`_getters` is private to asyncio (the same from Python 3.10 to 3.14);
tests/quart_app/test_disconnect.py fails if it changes. Any other `receive` (a test's, another
server's) is watched by a task, as before.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class DisconnectWatch:
    """Cancels `task` when the client disconnects; `close()` once the request is done."""

    __slots__ = ("gone", "_task", "_queue", "_future", "_watcher")

    def __init__(self, receive: Callable[[], Any], task: asyncio.Task[Any]) -> None:
        self.gone = False
        self._task = task
        self._future: asyncio.Future[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        queue = getattr(getattr(receive, "raw", receive), "__self__", None)
        if isinstance(queue, asyncio.Queue) and isinstance(getattr(queue, "_getters", None), deque):
            self._queue: asyncio.Queue[Any] | None = queue
            self._arm()
        else:
            self._queue = None
            self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    def _arm(self) -> None:
        queue = self._queue
        assert queue is not None
        if not queue.empty():  # already there: read it now
            self._take()
            return
        future = self._future = self._task.get_loop().create_future()
        queue._getters.append(future)  # type: ignore[attr-defined]
        future.add_done_callback(self._woken)

    def _woken(self, future: asyncio.Future[None]) -> None:
        if future.cancelled() or self._future is not future:
            return
        self._future = None
        self._take()

    def _take(self) -> None:
        queue = self._queue
        assert queue is not None
        if queue.empty():  # another reader took it: wait for the next one
            self._arm()
            return
        if queue.get_nowait()["type"] == "http.disconnect":
            self._left()
        else:
            self._arm()

    async def _watch(self, receive: Callable[[], Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._left()

    def _left(self) -> None:
        self.gone = True
        self._task.cancel()

    def close(self) -> None:
        """Stop watching (the request ended, or is ending)."""
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.cancel()
            try:
                self._queue._getters.remove(future)  # type: ignore[union-attr]
            except ValueError:
                pass
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
