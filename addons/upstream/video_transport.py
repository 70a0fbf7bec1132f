"""The video transport: one try of a video is one or more chat-stream calls in sequence.

A 6 or 10 second video is one call. A 12, 16 or 20 second one is a first segment and then
extensions, each of which needs the post id the previous segment's stream reported, so the
calls cannot be made up front: this wrapper runs them one after the other over the REST
transport and shows the pipeline one answer. Progress is scaled across the segments (the
second of two equal segments goes from 50 to 99), a segment's finished file is only a step
(its `MediaResult` and its text are swallowed), and the last segment's result is the
stitched video. A segment that fails, ends without a file or is refused fails the whole try
(an `UpstreamFailure`, classified and retried like any other); a moderated segment ends the
answer there (the pipeline turns it into a content-policy error).

The builder writes every payload: the request it builds carries, next to the first
segment's payload, the function that builds each extension (`VideoUpstreamRequest.extend`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import AsyncIterator

from addons.events import (
    End, Event, FinalMessage, MediaModerated, MediaProgress, MediaResult, TextDelta,
    UpstreamFailure,
)
from addons.upstream.base import Timeouts, Transport, UpstreamStream
from addons.upstream.classify import excerpt
from addons.upstream.wire import UpstreamRequest

#: (segment number from 1, seconds made so far, post id to extend) → that segment's request
Extend = Callable[[int, float, str], UpstreamRequest]


@dataclass(slots=True)
class VideoUpstreamRequest(UpstreamRequest):
    """The first segment's request, plus the segment lengths and the extension builder."""

    segments: tuple[int, ...] = (6,)
    extend: Extend | None = None
    parent_post_id: str = ""


def scaled(progress: int, done: float, length: int, total: int) -> int:
    """A segment's own progress as progress of the whole video (never 100 before the end)."""
    return max(0, min(99, int((done + length * progress / 100) * 100 / total)))


class VideoStream:
    """The `UpstreamStream` of a whole video: the first segment's status, then every
    segment's events in turn."""

    def __init__(self, transport: Transport, request: VideoUpstreamRequest,
                 timeouts: Timeouts, first: UpstreamStream) -> None:
        self.transport = transport
        self.request = request
        self.timeouts = timeouts
        self.status = first.status
        self._current: UpstreamStream = first
        self._extend_from = request.parent_post_id  # the post the next segment extends

    async def error_body(self, limit: int = 4096) -> str:
        return await self._current.error_body(limit)

    async def events(self) -> AsyncIterator[list[Event]]:
        lengths = self.request.segments
        total = sum(lengths)
        done = 0.0
        for number, length in enumerate(lengths):
            last = number == len(lengths) - 1
            if number:
                failure = await self._open_next(number, done)
                if failure is not None:
                    yield [failure]
                    return
            result: MediaResult | None = None
            ended = False
            async for batch in self._current.events():
                out: list[Event] = []
                for ev in batch:
                    cls = type(ev)
                    if cls is MediaProgress and ev.kind == "video":
                        out.append(MediaProgress("video", ev.index,
                                                 scaled(ev.progress, done, length, total)))
                    elif cls is MediaResult and ev.kind == "video":
                        if last:
                            out.append(ev)
                        else:
                            result = ev
                            out.append(MediaProgress("video", ev.index,
                                                     scaled(100, done, length, total)))
                    elif cls is MediaModerated:
                        # the answer ends here: no later segment can extend a withheld one
                        out += [ev, End()]
                        yield out
                        return
                    elif cls is End:
                        ended = True
                        if last:
                            out.append(ev)
                        break
                    elif cls is UpstreamFailure:
                        out.append(ev)
                        yield out
                        return
                    elif cls in (TextDelta, FinalMessage) and not last:
                        continue  # an intermediate segment's remark is not the answer
                    else:
                        out.append(ev)
                if out:
                    yield out
                if ended:
                    break
            if last or not ended:
                return  # the pipeline sees the end marker, or the truncation
            if result is None:
                yield [UpstreamFailure(502, f"video segment {number + 1} of {len(lengths)} "
                                            "ended without a video")]
                return
            self._extend_from = result.post_id or result.asset_id or self.request.parent_post_id
            done += length

    async def _open_next(self, number: int, done: float) -> UpstreamFailure | None:
        """Opens segment `number` (from 0); a refusal is that try's failure."""
        assert self.request.extend is not None
        await self._current.aclose()
        request = self.request.extend(number, done, self._extend_from)
        self._current = await self.transport.open(request, self.timeouts)
        if self._current.status != 200:
            body = await self._current.error_body()
            await self._current.aclose()
            return UpstreamFailure(self._current.status,
                                   f"video extension {number + 1}: {excerpt(body)}", body)
        return None

    async def aclose(self) -> None:
        await self._current.aclose()


class VideoTransport:
    """Mounted under `video`: runs a video's segments over `inner` (the REST transport)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        first = await self.inner.open(request, timeouts)
        if not isinstance(request, VideoUpstreamRequest) or first.status != 200:
            return first
        return VideoStream(self.inner, request, timeouts, first)

    async def aclose(self) -> None:
        """The inner transport is the shared REST one: its owner closes it."""
