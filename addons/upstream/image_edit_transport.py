"""The image-edit transport: the REST chat call of an edit, repeated once when it gave fewer
distinct images than the client asked for, the two answers merged into one stream.

grok.com draws two slots per edit call, the newer generation often one: a client asking for
two images may get one, so the same call goes once more on the same account (its uploads and
media post are still valid there) and its images fill the gap. A slot grok.com moderated is
its answer for that prompt, not a shortfall: a repeat would mostly be moderated again, so a
moderated slot means no repeat, and the client gets fewer images (the answer says how many
were withheld).

Results are numbered 0, 1, … in the order they arrive, at most `wanted` of them, each URL
once; progress of a slot beyond `wanted` is dropped. Once the first call delivered an image, a
failed repeat only ends the answer with what it has (logged), never fails it.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import AsyncIterator

from addons.events import (
    End, Event, MediaModerated, MediaProgress, MediaResult, ResponseMeta, UpstreamFailure,
)
from addons.upstream.base import Timeouts, Transport, TransportError, UpstreamStream
from addons.upstream.wire import UpstreamRequest

log = logging.getLogger(__name__)


class ImageEditTransport:
    """Wraps the REST transport (which the services own and close)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        answer = await self.inner.open(request, timeouts)
        if answer.status != 200:
            return answer
        return MergedEdit(self.inner, request, timeouts, answer)

    async def aclose(self) -> None:
        """Nothing of its own to close."""


class MergedEdit:
    def __init__(self, inner: Transport, request: UpstreamRequest, timeouts: Timeouts,
                 first: UpstreamStream) -> None:
        self.inner = inner
        self.request = request
        self.timeouts = timeouts
        self.current = first
        self.status = first.status
        self.wanted = max(1, getattr(request, "wanted", 1))
        self.seen: set[str] = set()
        self.delivered = 0
        self.withheld = 0
        self.ended = False  # the call being read reached its End

    async def error_body(self, limit: int = 4096) -> str:
        return await self.current.error_body(limit)

    async def aclose(self) -> None:
        await self.current.aclose()

    async def events(self) -> AsyncIterator[list[Event]]:
        async for batch in self._read(repeat=False):
            yield batch
        if not self.ended:
            return  # a failure or a truncation: the pipeline judges the first call as it is
        if not (0 < self.delivered < self.wanted and not self.withheld):
            yield self._end()
            return
        log.info("image edit gave %d of %d images: asking once more", self.delivered,
                 self.wanted)
        try:
            await self.current.aclose()
            again = dataclasses.replace(self.request, headers=self._fresh_headers())
            self.current = await self.inner.open(again, self.timeouts)
            if self.current.status == 200:
                async for batch in self._read(repeat=True):
                    yield batch
            else:
                log.warning("image edit repeat refused (%d): %s", self.current.status,
                            await self.current.error_body(300))
        except TransportError as exc:
            log.warning("image edit repeat failed: %s", exc)
        yield self._end()

    async def _read(self, repeat: bool) -> AsyncIterator[list[Event]]:
        """One call's events, renumbered; stops at its End (not passed on). The repeat's
        failures and its metadata are dropped: the first call's answer stands."""
        base = self.delivered if repeat else 0
        self.ended = False
        async for batch in self.current.events():
            out: list[Event] = []
            ended = False
            for ev in batch:
                cls = type(ev)
                if cls is End:
                    ended = self.ended = True
                    break
                if cls is MediaResult:
                    if ev.url in self.seen or self.delivered >= self.wanted:
                        continue
                    self.seen.add(ev.url)
                    out.append(dataclasses.replace(ev, index=self.delivered))
                    self.delivered += 1
                elif cls is MediaProgress:
                    index = base + ev.index
                    if index < self.wanted:
                        out.append(dataclasses.replace(ev, index=index))
                elif cls is MediaModerated:
                    self.withheld += 1  # told once the answer ends, if it fell short
                elif repeat and cls is UpstreamFailure:
                    log.warning("image edit repeat failed: %s", ev.message)
                    ended = True
                    break
                elif not (repeat and cls is ResponseMeta):
                    out.append(ev)
            if out:
                yield out
            if ended:
                return

    def _end(self) -> list[Event]:
        """The moderated slots that left the answer short, then the end."""
        short = max(0, self.wanted - self.delivered)
        out: list[Event] = [MediaModerated("image", self.delivered + i)
                            for i in range(min(short, self.withheld))]
        out.append(End())
        return out

    def _fresh_headers(self) -> dict[str, str]:
        headers = dict(self.request.headers)
        if "x-xai-request-id" in headers:
            headers["x-xai-request-id"] = str(uuid.uuid4())
        return headers
