"""One mgw chat turn read from a curl_cffi `AsyncWebSocket` (see mgw.py for the transport).

`events()` mirrors `CurlStream.events()`: it drains every message already received without
awaiting, parses them as one batch, and only awaits (bounded by the idle / total deadlines
and the heartbeat) when nothing is buffered; within `Timeouts.coalesce` of the previous
batch it lets more events gather first. The first wait after `response.create` is
bounded by the first-byte timeout instead of the idle one, as the REST first byte is.
A heartbeat `ping` event goes upstream every `ping_interval` seconds while the turn runs.

Only `response.done` ends the turn as complete (End): a close frame before it is a truncation
(`UPSTREAM_TRUNCATED`), a dropped connection a TransportError, silence an UpstreamTimeout.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from curl_cffi import CurlError, CurlWsFlag
from curl_cffi.requests.websockets import WebSocketTimeout

from addons.events import (
    TRUNCATED_MESSAGE, UPSTREAM_TRUNCATED, Event, Heartbeat, UpstreamFailure, has_content,
)
from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.classify import sanitize
from addons.upstream.mgw_events import MgwEventParser
from addons.upstream.mgw_frames import ping

log = logging.getLogger(__name__)

PING_INTERVAL = 25.0
CLOSED_EARLY = "upstream closed the WebSocket before response.done"


def closed_early() -> UpstreamFailure:
    """A close frame before `response.done`: the socket ended cleanly, the answer did not."""
    return UpstreamFailure(502, f"{TRUNCATED_MESSAGE}: {CLOSED_EARLY}", code=UPSTREAM_TRUNCATED)


def ws_error_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"upstream WebSocket failed: {sanitize(text) or type(exc).__name__}"


def buffered(ws: Any) -> int:
    """Messages already received by curl_cffi's reader. `AsyncWebSocket.recv()` returns a
    buffered message without suspending; this tells us whether one is there (private API,
    guarded: 0 when unknown, which only makes batches smaller)."""
    queue = getattr(ws, "_receive_queue", None)
    try:
        return queue.qsize() if queue is not None else 0
    except Exception:  # noqa: BLE001
        return 0


class RefusedStream:
    """A refused chat (WebSocket handshake or identity lookup): only a status and a body.
    `fetch_body`, if given, is awaited once to obtain the body (see `MgwTransport`)."""

    def __init__(self, status: int, body: str = "",
                 fetch_body: Callable[[], Awaitable[str]] | None = None) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self._body = body
        self._fetch = fetch_body

    async def error_body(self, limit: int = 4096) -> str:
        if self._fetch is not None:
            fetch, self._fetch = self._fetch, None
            try:
                self._body = await fetch() or self._body
            except Exception:  # noqa: BLE001 - the synthetic body stays
                log.debug("mgw refusal body fetch failed", exc_info=True)
        return self._body[:limit]

    async def events(self) -> AsyncIterator[list[Event]]:
        failure = UpstreamFailure(self.status, f"upstream refused the chat ({self.status})",
                                  self._body)
        yield [failure]

    async def aclose(self) -> None:
        return None


class MgwStream:
    """One mgw turn. `events()` may be iterated once; always `aclose()` it."""

    def __init__(self, ws: Any, parser: MgwEventParser, pending: list[Event], timeouts: Timeouts,
                 started: float, sent_at: float, ping_interval: float = PING_INTERVAL) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self._ws = ws
        self._parser = parser
        self._pending = pending
        self._timeouts = timeouts
        self._started = started
        self._sent_at = sent_at
        self._closed = False
        self._pinger: asyncio.Task[None] | None = None
        if ping_interval > 0 and not parser.done:
            self._pinger = asyncio.get_running_loop().create_task(self._ping(ping_interval))

    @property
    def closed(self) -> bool:
        return self._closed

    async def _ping(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._ws.send(orjson.dumps(ping()), CurlWsFlag.TEXT)
            except Exception:  # noqa: BLE001 - the reader reports a broken socket
                return

    async def events(self) -> AsyncIterator[list[Event]]:
        t = self._timeouts
        ws = self._ws
        parser = self._parser
        loop = asyncio.get_running_loop()
        total_deadline = self._started + t.total
        last_data = last_beat = self._sent_at
        last_yield = -1e9
        answering = False  # content was handed on: from then on the coalescing window applies
        idle, kind = t.first_byte, "first_byte"  # until the turn's first event, then idle
        try:
            if self._pending:
                batch, self._pending = self._pending, []
                yield batch
            while not parser.done:
                now = loop.time()
                if now >= total_deadline:
                    raise UpstreamTimeout("total", t.total)
                if now >= last_data + idle:
                    raise UpstreamTimeout(kind, idle)
                beat_deadline = last_beat + t.heartbeat
                if now >= beat_deadline:
                    last_beat = now
                    yield [Heartbeat()]
                    continue
                wait = max(0.0, min(total_deadline, last_data + idle, beat_deadline) - now)
                try:
                    message, flags = await ws.recv(timeout=wait)
                except WebSocketTimeout:
                    continue
                except CurlError as exc:
                    raise TransportError(ws_error_message(exc)) from None
                if flags & CurlWsFlag.CLOSE:
                    yield [closed_early()]
                    return
                last_data = last_beat = loop.time()
                idle, kind = t.idle, "idle"
                batch = parser.feed(message)
                # coalesce as CurlStream does: shortly after a batch, let more events gather
                # (messages already buffered are taken at once); the end of the turn cuts the
                # window short
                until = last_yield + getattr(t, "coalesce", 0.0)
                while not parser.done:
                    wait = until - loop.time()
                    if wait <= 0.001 and not buffered(ws):
                        break
                    try:
                        message, flags = await ws.recv(timeout=max(wait, 0.001))
                    except (WebSocketTimeout, CurlError):
                        break  # a broken socket is reported by the next recv
                    if flags & CurlWsFlag.CLOSE:
                        yield [*batch, closed_early()]
                        return
                    batch += parser.feed(message)
                if batch:
                    if not answering:
                        answering = has_content(batch)
                    if answering:  # as CurlStream: metadata before the answer opens no window
                        last_yield = loop.time()
                    yield batch
        finally:
            await self.aclose()

    async def error_body(self, limit: int = 4096) -> str:
        return ""

    async def aclose(self) -> None:
        """Close the socket at once (no close handshake) and stop the heartbeat."""
        if self._closed:
            return
        self._closed = True
        if self._pinger is not None:
            self._pinger.cancel()
        try:
            self._ws.terminate()
        except Exception:  # noqa: BLE001
            log.debug("mgw terminate failed", exc_info=True)
