"""One streamed upstream response read from a pooled curl transfer (see transport.py and
curl_pool.py for the traps).

`events()` takes everything already received without awaiting, feeds it to the frame parser
as one batch, and only awaits (until a loop-time deadline) when nothing is buffered, which is
also where the idle / total timeouts and the heartbeat are enforced.

The answer ends with End only when the parser saw grok.com's end marker: a body that stops
before it is a truncation, a broken connection a TransportError and silence an
UpstreamTimeout. Once the answer is whole (a `modelResponse` arrived), a late or broken end
of the body no longer matters.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any, AsyncIterator

from curl_cffi import CurlError

from addons.upstream.config import DEFAULT_ASSETS_URL
from addons.events import End, Event, Heartbeat, UpstreamFailure, has_content
from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.classify import sanitize
from addons.upstream.curl_handle import parse_headers
from addons.upstream.curl_pool import Transfer, TransferAborted
from addons.upstream.frames import FrameParser

_CURL_NOISE = re.compile(r"\s*See https://curl\.se/\S+.*$", re.S)
CURL_TIMEOUT = 28  # CURLE_OPERATION_TIMEDOUT: only curl's own stall guard


def curl_error_message(exc: BaseException) -> str:
    """A short, sanitised description of a curl failure (never cookies or proxy creds)."""
    code = getattr(exc, "code", None)
    text = _CURL_NOISE.sub("", str(exc)).strip()[:300]
    return f"upstream connection failed (curl {code}): {sanitize(text)}"


def transfer_error(exc: BaseException, kind: str, seconds: float) -> TransportError:
    """The TransportError for a failed transfer; a curl timeout becomes UpstreamTimeout(kind)."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, CurlError) and exc.code == CURL_TIMEOUT:
        return UpstreamTimeout(kind, seconds)
    if isinstance(exc, CurlError):
        return TransportError(curl_error_message(exc))
    if isinstance(exc, TransferAborted):
        return TransportError(str(exc))
    return TransportError(f"upstream transfer failed: {type(exc).__name__}")


class CurlStream:
    """One upstream response. `events()` may be iterated once; always `aclose()` it."""

    def __init__(self, transfer: Transfer, timeouts: Timeouts, started: float,
                 assets_url: str = DEFAULT_ASSETS_URL, parser: Any = None) -> None:
        self.status: int = transfer.status
        self.headers: dict[str, str] = parse_headers(transfer.raw_headers)
        self._tr = transfer
        self._timeouts = timeouts
        self._started = started
        #: grok.com's NDJSON frames unless the caller reads another protocol (the console's SSE)
        self._parser = FrameParser(assets_url) if parser is None else parser
        self._closed = False
        self._error_body: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def events(self) -> AsyncIterator[list[Event]]:
        """Batches of events (all bytes available at once, parsed together) until End or
        UpstreamFailure; `[Heartbeat()]` on silence. Closes the transfer after."""
        t = self._timeouts
        tr = self._tr
        parser = self._parser
        loop = asyncio.get_running_loop()
        total_deadline = self._started + t.total
        last_data = last_beat = loop.time()
        last_yield = -1e9
        answering = False  # content (text, reasoning) has been handed on
        try:
            while True:
                # Take everything already received without awaiting; feed it as one batch.
                # (All chunks are buffered before `done` is set, so this pair is consistent.)
                data = tr.take()
                done = tr.done
                error = tr.error
                batch: list[Event] = []
                if data:
                    last_data = last_beat = loop.time()
                    batch = parser.feed(data)
                if done and (error is None or parser.complete):
                    batch += parser.close()  # End, or the truncation of an unfinished answer
                if batch:
                    batch, stop = _cut(batch)
                    if not answering:
                        answering = has_content(batch)
                    if answering:  # metadata before the answer opens no window
                        last_yield = loop.time()
                    yield batch
                    if stop:
                        return
                if done:
                    if error is None:
                        return
                    raise transfer_error(error, "idle", t.idle)
                now = loop.time()
                idle_deadline = last_data + t.idle
                if now >= total_deadline or now >= idle_deadline:
                    if parser.complete:  # only the trailing end frames are late
                        yield parser.close()
                        return
                    if now >= total_deadline:
                        raise UpstreamTimeout("total", t.total)
                    raise UpstreamTimeout("idle", t.idle)
                beat_deadline = last_beat + t.heartbeat
                if now >= beat_deadline:
                    last_beat = now
                    yield [Heartbeat()]
                    continue
                # Coalesce: within `coalesce` seconds of the last batch, let more frames gather
                # and hand them on together (one parse, one client write). The window is waited
                # out first (only the end of the body cuts it short), so a steady stream wakes
                # this task once per window, not once per frame and again for the rest of the
                # window. The first content, and so the first token, is never delayed; nor is
                # a frame after a quiet window, nor the end of the answer.
                gather_until = last_yield + t.coalesce
                if gather_until - now > 0.001 and gather_until < idle_deadline:
                    await tr.wait(gather_until, data=False)
                    continue
                await tr.wait(min(total_deadline, idle_deadline, beat_deadline))
        finally:
            await self.aclose()  # a no-op when the transfer already finished

    async def error_body(self, limit: int = 4096) -> str:
        """Up to `limit` characters of a (non-200) body; waits at most ~idle/10 s for it."""
        if self._error_body is not None:
            return self._error_body
        tr = self._tr
        buf = bytearray()
        deadline = asyncio.get_running_loop().time() + min(self._timeouts.idle, 10.0)
        while len(buf) < limit or len(buf.decode("utf-8", "ignore")) < limit:
            data = tr.take()
            if data:
                buf += data
                continue
            if tr.done or not await tr.wait(deadline):
                break
        self._error_body = buf.decode("utf-8", "replace")[:limit]
        return self._error_body

    async def aclose(self) -> None:
        """Stop the transfer at once, even mid-body, and give the curl handle back."""
        if self._closed:
            return
        self._closed = True
        self._tr.release()  # curl_multi_remove_handle if still running: never drain the body


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
