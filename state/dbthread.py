"""The one database thread: every peewee call of the process runs on it, so the event loop
never blocks on I/O and SQLite sees a single writer connection."""
from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee
from playhouse.pool import PooledDatabase

from state.models import bound

__all__ = ["DBThread"]

T = TypeVar("T")


class DBThread:
    """A single-worker executor owning the database connection.

    `await run(fn, ...)` from the event loop; `run_sync(fn, ...)` from plain code (the CLI).
    `fn` runs with the models bound to this database."""

    def __init__(self, db: peewee.Database, *, name: str = "grok2api-db") -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._thread_ident: int | None = None
        self._pooled = isinstance(db, PooledDatabase)
        self._closed = False
        self._depth = 0

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self._thread_ident = threading.get_ident()
        if self.db.is_closed():
            self.db.connect(reuse_if_open=True)
        self._depth += 1
        try:
            with bound(self.db):
                return fn(*args, **kwargs)
        finally:
            self._depth -= 1
            if self._pooled and self._depth == 0 and not self.db.in_transaction():
                self.db.close()  # back to the pool; a stale one is replaced on the next job

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            raise RuntimeError("database thread is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._call, fn, args, kwargs))

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if threading.get_ident() == self._thread_ident:
            return self._call(fn, args, kwargs)  # already on the database thread
        if self._closed:
            raise RuntimeError("database thread is closed")
        return self._executor.submit(self._call, fn, args, kwargs).result()

    def close(self) -> None:
        """Close the connection (on its own thread) and stop the thread. Idempotent."""
        if self._closed:
            return
        try:
            self._executor.submit(self._close_db).result()
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)

    def _close_db(self) -> None:
        if not self.db.is_closed():
            self.db.close()
        if self._pooled:
            self.db.close_all()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
