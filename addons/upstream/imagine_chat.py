"""The chat-based image path (docs/upstream.md, "Images through the chat"): `Transport` for
`image_chat` requests, over the REST chat transport whatever `upstream.chat_transport` is.

grok.com draws when the chat is asked to (`modeId: fast`, `message: "Drawing: <prompt>"`,
`imageGenerationCount: 2`). One call per requested image (`request.count` calls, one after
the other, on the leased account): the chat stream parser turns its image frames and
generated-image cards into `MediaProgress` / `MediaResult` / `MediaModerated`
(`media_frames.py`); the first result of each call is taken and the rest of that call
abandoned. Results are numbered 0…n-1 in the order they came; a result already taken (the
same URL) is not taken twice. A call whose every slot was withheld counts as one moderated
image. The first call's refusal is the try's answer; a later call's failure ends the answer
with the images already made (or fails the try when there are none).
"""
from __future__ import annotations

import logging
from typing import AsyncIterator

from addons.events import End, Event, Heartbeat, MediaModerated, MediaProgress, MediaResult, \
    UpstreamFailure
from addons.upstream.base import Timeouts, TransportError, UpstreamStream
from addons.upstream.classify import excerpt, transport_failure
from addons.upstream.imagine_frames import media_key
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest

log = logging.getLogger(__name__)

#: the prefix that asks grok.com's chat to draw
DRAWING = "Drawing: "


class ChatImageTransport:
    """`Transport` for `image_chat` requests, over `rest`."""

    def __init__(self, rest: CurlTransport) -> None:
        self.rest = rest

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        first = await self.rest.open(request, timeouts)
        if first.status != 200:
            return first
        return ChatImageStream(self.rest, request, timeouts, first)

    async def aclose(self) -> None:
        """The REST transport is the services' to close."""


class ChatImageStream:
    def __init__(self, rest: CurlTransport, request: UpstreamRequest, timeouts: Timeouts,
                 first: UpstreamStream) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self._rest = rest
        self._request = request
        self._timeouts = timeouts
        self._call: UpstreamStream | None = first

    async def error_body(self, limit: int = 4096) -> str:
        return ""

    async def events(self) -> AsyncIterator[list[Event]]:
        seen: set[str] = set()
        delivered = 0
        try:
            for call in range(self._request.count):
                if self._call is None:
                    try:
                        self._call = await self._rest.open(self._request, self._timeouts)
                    except TransportError as exc:
                        if delivered == 0:
                            yield [transport_failure(exc)]
                            return
                        break
                    if self._call.status != 200:
                        body = await self._call.error_body()
                        if delivered == 0:
                            yield [UpstreamFailure(self._call.status, excerpt(body), body)]
                            return
                        break
                taken = moderated = ended = False
                failure: UpstreamFailure | None = None
                try:
                    async for batch in self._call.events():
                        out: list[Event] = []
                        for ev in batch:
                            cls = type(ev)
                            if cls is MediaResult and ev.kind == "image":
                                key = media_key(ev)
                                if key in seen:
                                    continue
                                seen.add(key)
                                ev.index = delivered
                                out.append(ev)
                                taken = True
                                break
                            if cls is MediaProgress and ev.kind == "image":
                                out.append(MediaProgress("image", delivered, ev.progress,
                                                         ev.preview))
                            elif cls is MediaModerated:
                                moderated = True
                            elif cls is Heartbeat:
                                out.append(ev)
                            elif cls is UpstreamFailure:
                                failure = ev
                                break
                            elif cls is End:
                                ended = True
                                break
                        if out:
                            yield out
                        if taken or ended or failure is not None:
                            break
                except TransportError as exc:
                    failure = transport_failure(exc)
                finally:
                    call_stream, self._call = self._call, None
                    await call_stream.aclose()
                if taken:
                    delivered += 1
                elif failure is not None:
                    if delivered == 0:
                        yield [failure]
                        return
                    break
                elif moderated:
                    yield [MediaModerated("image", delivered)]
            yield [End()]
        finally:
            if self._call is not None:
                await self._call.aclose()
                self._call = None

    async def aclose(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            await call.aclose()
