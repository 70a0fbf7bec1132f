"""A pool of `EasyHandle`s on one curl_cffi `AsyncCurl`, and the per-request `Transfer`.

A `Transfer` is the sink the handle's callbacks write into: status, raw header lines and
body chunks in plain lists, waking at most one waiting consumer (no queue put per chunk, no
task per transfer). Its end is the curl future's done-callback.

A handle goes back to the pool only once it is out of the multi handle: when the curl future
resolved (libcurl finished and `AsyncCurl` removed it) or after `Transfer.release()` removed
a still running transfer (`curl_multi_remove_handle`, legal mid-transfer: libcurl stops it,
drops its connection, and the handle may be added again). A handle whose callback ever
raised is closed instead (curl_cffi would report that error for every later transfer).

The idle handles shrink back after a burst: those above `idle_keep` that have not been used
for `idle_trim_after` seconds are closed (the least recently used first; reuse is LIFO, so
they are the bottom of the idle list); the burst's garbage is then collected and the freed
heap given back to the system (give_back.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Mapping

from curl_cffi.aio import CURL_POLL_NONE, CURL_SOCKET_TIMEOUT, AsyncCurl

from addons.upstream.curl_handle import EasyHandle, header_lines
from addons.upstream.give_back import give_back

log = logging.getLogger(__name__)


class TransferAborted(Exception):
    """The transfer was stopped by `release()` (or the transport closed) before it ended."""


class Transfer:
    """One request on one pooled handle: the sink its callbacks write into."""

    __slots__ = ("status", "raw_headers", "chunks", "done", "error", "_waiter", "_wake_on_data",
                 "_waiter_wants_data", "_pool", "_handle", "_finished", "_loop")

    def __init__(self, pool: HandlePool, handle: EasyHandle, wake_on_data: bool) -> None:
        self.status = 0
        self.raw_headers: list[bytes] = []
        self.chunks: list[bytes] = []
        self.done = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._wake_on_data = wake_on_data
        self._waiter_wants_data = True
        self._pool = pool
        self._handle: EasyHandle | None = handle
        self._finished = False  # libcurl ended it and AsyncCurl removed it from the multi
        self._loop = pool.loop

    # -- curl callbacks (inside AsyncCurl.process_data; must never raise) --------------
    def on_header(self, line: bytes) -> int:
        if line[:5] == b"HTTP/":
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.raw_headers = []  # a new response (1xx, proxy CONNECT, redirect)
        elif line[:1] not in (b"\r", b"\n"):
            self.raw_headers.append(line)
        return len(line)

    def on_body(self, data: bytes) -> int:
        self.chunks.append(data)
        waiter = self._waiter
        if waiter is not None and self._wake_on_data and self._waiter_wants_data \
                and not waiter.done():
            self._waiter = None
            waiter.set_result(True)
        return len(data)

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.error = self.error or TransferAborted("upstream transfer aborted")
        else:
            self._finished = True
            self.error = future.exception()
        self.done = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(True)
        self.release()

    # -- consumer side ----------------------------------------------------------------
    def take(self) -> bytes:
        """Everything received and not yet taken, as one bytes object."""
        chunks = self.chunks
        if not chunks:
            return b""
        self.chunks = []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def wait(self, deadline: float, *, data: bool = True) -> bool:
        """Until data (if waking on data, and `data`) or the end arrives, or the loop time
        `deadline`. False when the deadline passed with nothing new."""
        if self.done or (data and self._wake_on_data and self.chunks):
            return True
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._waiter_wants_data = data
        timer = self._loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None

    def release(self) -> None:
        """Stop the transfer at once if it still runs, and give its handle back. Idempotent."""
        handle = self._handle
        if handle is None:
            return
        self._handle = None
        self._pool.put(handle, running=not self._finished)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class HandlePool:
    """Up to `max_clients` easy handles on one `AsyncCurl`; LIFO reuse, FIFO waiters."""

    def __init__(self, max_clients: int, *, target: str, http1: bool, verify: bool,
                 accept_encoding: str, idle_keep: int = 32, idle_trim_after: float = 30.0) -> None:
        self.loop = asyncio.get_running_loop()
        self.acurl = AsyncCurl(loop=self.loop)
        self.max_clients = max_clients
        #: idle handles kept however long they wait; those above, once idle this long, close
        self.idle_keep = max(0, idle_keep)
        self.idle_trim_after = idle_trim_after
        self._trim_timer: asyncio.TimerHandle | None = None
        self.in_use = 0
        self.closed = False
        self._multi_open = True
        self._idle: list[EasyHandle] = []
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._setup = (target, http1, verify, accept_encoding)

    def start(self, handle: EasyHandle, method: str, url: str, headers: Mapping[str, str],
              body: bytes | None, proxy: str | None, limits: tuple[int, int, int, int],
              *, wake_on_data: bool = True) -> Transfer:
        """Configure `handle` (acquired from this pool) and add it to the multi handle."""
        tr = Transfer(self, handle, wake_on_data)
        try:
            if self.closed:
                raise TransferAborted("upstream transport closed")
            handle.prepare(tr, method, url, header_lines(headers, bool(body)), body, proxy, limits)
            future = self.acurl.add_handle(handle.curl)
        except BaseException:
            tr._finished = True  # never got into the multi handle
            tr._handle = None
            self.put(handle, running=False, reuse=False)
            raise
        future.add_done_callback(tr._on_done)
        # Start it now: libcurl would otherwise ask for a 0 ms timer and send the request one
        # trip round the event loop later (under load, behind every other ready callback).
        # Should the multi handle refuse, that timer still starts it: never fail the caller.
        try:
            self.acurl.process_data(CURL_SOCKET_TIMEOUT, CURL_POLL_NONE)
        except Exception:  # noqa: BLE001
            log.debug("starting a transfer early failed; libcurl's timer will", exc_info=True)
        return tr

    def try_acquire(self) -> EasyHandle | None:
        if self.in_use >= self.max_clients or self._waiters or self.closed:
            return None
        self.in_use += 1
        return self._take()

    async def acquire(self) -> EasyHandle:
        handle = self.try_acquire()
        if handle is not None:
            return handle
        if self.closed:
            raise TransferAborted("upstream transport closed")
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # resolved with a slot already counted in `in_use`
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._free_slot()
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        return self._take()

    def _take(self) -> EasyHandle:
        if self._idle:
            return self._idle.pop()
        try:
            return EasyHandle(self.acurl._cacert, *self._setup)
        except BaseException:
            self._free_slot()
            raise

    def put(self, handle: EasyHandle, *, running: bool, reuse: bool = True) -> None:
        """Back from a transfer. A running one is removed from the multi handle first."""
        handle.detach()
        if running and self._multi_open:
            try:
                self.acurl.remove_handle(handle.curl)  # stops it now; cancels its future
            except Exception:  # noqa: BLE001 - the multi refused: never reuse this handle
                reuse = False
        if reuse and not self.closed and not handle.poisoned:
            handle.idle_since = self.loop.time()
            self._idle.append(handle)
            if len(self._idle) > self.idle_keep and self._trim_timer is None:
                self._trim_timer = self.loop.call_at(handle.idle_since + self.idle_trim_after, self._trim)
        else:
            handle.curl.close()
        self._free_slot()

    def _trim(self) -> None:
        """Close the idle handles above `idle_keep` idle for `idle_trim_after` s, then give
        the memory back; again later while more than `idle_keep` wait."""
        self._trim_timer = None
        idle = self._idle
        if self.closed or len(idle) <= self.idle_keep:
            return
        cutoff = self.loop.time() - self.idle_trim_after
        n = 0
        most = len(idle) - self.idle_keep
        while n < most and idle[n].idle_since <= cutoff:  # oldest first: the list is in put order
            n += 1
        if n:
            for handle in idle[:n]:
                handle.curl.close()
            del idle[:n]
            give_back()
            log.debug("closed %d idle upstream handles, %d left", n, len(idle))
        if len(idle) > self.idle_keep:
            self._trim_timer = self.loop.call_at(idle[0].idle_since + self.idle_trim_after, self._trim)

    def _free_slot(self) -> None:
        self.in_use -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)
                break

    async def close(self) -> None:
        self.closed = True
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(TransferAborted("upstream transport closed"))
        self._waiters.clear()
        # removes every running handle and resolves its future; the transfers' done
        # callbacks then close those handles
        await self.acurl.close()
        self._multi_open = False
        while self._idle:
            self._idle.pop().curl.close()
