"""One streamed upstream response read from curl_cffi's queue (see transport.py for the traps).

`events()` drains everything already received without awaiting, feeds it to the frame
parser as one batch, and only awaits (under `asyncio.timeout_at`) when the queue is empty,
which is also where the idle / total timeouts and the heartbeat are enforced.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any, AsyncIterator

from curl_cffi.requests import exceptions as curl_exc
from curl_cffi.requests.streams import STREAM_END

from addons.events import End, Event, Heartbeat, UpstreamFailure
from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.classify import sanitize
from addons.upstream.frames import FrameParser

_CURL_NOISE = re.compile(r"\s*See https://curl\.se/\S+.*$", re.S)


def curl_error_message(exc: BaseException) -> str:
    """A short, sanitised description of a curl failure (never cookies or proxy creds)."""
    code = getattr(exc, "code", None)
    text = _CURL_NOISE.sub("", str(exc)).strip()[:300]
    return f"upstream connection failed (curl {code}): {sanitize(text)}"


def lower_headers(headers: Any) -> dict[str, str]:
    try:
        items = headers.multi_items()
    except AttributeError:
        items = dict(headers or {}).items()
    out: dict[str, str] = {}
    for key, value in items:
        key = key.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class CurlStream:
    """One upstream response. `events()` may be iterated once; always `aclose()` it."""

    def __init__(
        self, rsp: Any, future: asyncio.Future[Any] | None, timeouts: Timeouts, started: float
    ) -> None:
        self.status: int = rsp.status_code
        self.headers: dict[str, str] = lower_headers(rsp.headers)
        self._rsp = rsp
        self._queue: asyncio.Queue[Any] = rsp.queue
        self._future = future
        self._timeouts = timeouts
        self._started = started
        self._parser = FrameParser()
        self._closed = False
        self._error_body: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def events(self) -> AsyncIterator[list[Event]]:
        """Batches of events (all bytes available at once, parsed together) until End /
        UpstreamFailure / end of body; `[Heartbeat()]` on silence. Closes the transfer after."""
        t = self._timeouts
        q = self._queue
        parser = self._parser
        loop = asyncio.get_running_loop()
        total_deadline = self._started + t.total
        last_data = last_beat = loop.time()
        last_yield = -1e9
        pending: Any = None
        try:
            while True:
                # Drain everything already received without awaiting; feed it as one batch.
                chunks: list[bytes] = []
                terminal: Any = None
                item = pending
                pending = None
                while True:
                    if item is None:
                        try:
                            item = q.get_nowait()
                        except asyncio.QueueEmpty:
                            break
                    if item is STREAM_END or isinstance(item, BaseException):
                        terminal = item
                        break
                    chunks.append(item)
                    item = None
                batch: list[Event] = []
                if chunks:
                    last_data = last_beat = loop.time()
                    batch = parser.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                if terminal is STREAM_END:
                    batch += parser.close()
                    if not parser.failed and not parser.ended:
                        batch.append(End())  # the body ended without a soft stop: a clean end
                if batch:
                    batch, stop = _cut(batch)
                    last_yield = loop.time()
                    yield batch
                    if stop:
                        return
                if terminal is STREAM_END:
                    return
                if terminal is not None:
                    if isinstance(terminal, curl_exc.Timeout):
                        raise UpstreamTimeout("idle", t.idle)
                    raise TransportError(curl_error_message(terminal))
                now = loop.time()
                if now >= total_deadline:
                    raise UpstreamTimeout("total", t.total)
                idle_deadline = last_data + t.idle
                if now >= idle_deadline:
                    raise UpstreamTimeout("idle", t.idle)
                beat_deadline = last_beat + t.heartbeat
                if now >= beat_deadline:
                    last_beat = now
                    yield [Heartbeat()]
                    continue
                try:
                    async with asyncio.timeout_at(min(total_deadline, idle_deadline, beat_deadline)):
                        pending = await q.get()
                except TimeoutError:
                    pass
                else:
                    # Coalesce: within `coalesce` seconds of the last batch, let more frames
                    # gather and hand them on together (one parse, one client write). The
                    # first batch, and so the first token, is never delayed.
                    wait = last_yield + t.coalesce - loop.time()
                    if wait > 0.001:
                        await asyncio.sleep(wait)
        finally:
            await self.aclose()  # a no-op when the transfer already finished

    async def error_body(self, limit: int = 4096) -> str:
        """Up to `limit` characters of a (non-200) body; waits at most ~idle/10 s for it."""
        if self._error_body is not None:
            return self._error_body
        buf = bytearray()
        try:
            async with asyncio.timeout(min(self._timeouts.idle, 10.0)):
                while len(buf) < limit or len(buf.decode("utf-8", "ignore")) < limit:
                    item = await self._queue.get()
                    if item is STREAM_END:
                        break
                    if isinstance(item, BaseException):
                        break
                    buf += item
        except TimeoutError:
            pass
        self._error_body = buf.decode("utf-8", "replace")[:limit]
        return self._error_body

    async def aclose(self) -> None:
        """Stop the transfer at once, even mid-body, and give the curl handle back."""
        if self._closed:
            return
        self._closed = True
        rsp = self._rsp
        if rsp.quit_now is not None:
            rsp.quit_now.set()  # the write callback aborts on the next chunk
        if self._future is not None and not self._future.done():
            self._future.cancel()
        task = rsp.astream_task
        if task is not None and not task.done():
            task.cancel()
            # The task's done-callback releases the handle (curl_multi_remove_handle).
            await asyncio.wait({task}, timeout=1.0)


def _cut(batch: list[Event]) -> tuple[list[Event], bool]:
    """Stop a batch at its terminal event: an End (moved after the other events before any
    failure, e.g. a trailing FinalMessage) or else an UpstreamFailure. Returns (batch, stop)."""
    end_at = fail_at = None
    for i, ev in enumerate(batch):
        cls = type(ev)
        if cls is UpstreamFailure:
            fail_at = i
            break
        if cls is End and end_at is None:
            end_at = i
    if end_at is not None:
        upto = len(batch) if fail_at is None else fail_at
        return [e for e in batch[:upto] if type(e) is not End] + [batch[end_at]], True
    if fail_at is not None:
        return batch[: fail_at + 1], True
    return batch, False
