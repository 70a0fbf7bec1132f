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
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Call:
    """How one chat of the request went."""

    taken: bool = False
    moderated: bool = False
    ended: bool = False
    failure: UpstreamFailure | None = None


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
            for _ in range(self._request.count):
                call = _Call()
                async for batch in self._one(delivered, seen, call):
                    yield batch
                if call.taken:
                    delivered += 1
                elif call.failure is not None:
                    if delivered == 0:
                        yield [call.failure]
                        return
                    break  # end with the images already made
                elif call.moderated:
                    yield [MediaModerated("image", delivered)]
            yield [End()]
        finally:
            await self.aclose()

    async def _one(self, index: int, seen: set[str], call: "_Call") -> AsyncIterator[list[Event]]:
        """One chat: its progress as image `index`, and its first image not in `seen`."""
        try:
            if self._call is None:
                self._call = await self._rest.open(self._request, self._timeouts)
                if self._call.status != 200:
                    body = await self._call.error_body()
                    call.failure = UpstreamFailure(self._call.status, excerpt(body), body)
                    return
            async for batch in self._call.events():
                out: list[Event] = []
                for ev in batch:
                    cls = type(ev)
                    if cls is MediaResult and ev.kind == "image":
                        key = media_key(ev)
                        if key not in seen:
                            seen.add(key)
                            ev.index = index
                            out.append(ev)
                            call.taken = True
                            break
                    elif cls is MediaProgress and ev.kind == "image":
                        out.append(MediaProgress("image", index, ev.progress, ev.preview))
                    elif cls is MediaModerated:
                        call.moderated = True
                    elif cls is Heartbeat:
                        out.append(ev)
                    elif cls is UpstreamFailure:
                        call.failure = ev
                        break
                    elif cls is End:
                        call.ended = True
                        break
                if out:
                    yield out
                if call.taken or call.ended or call.failure is not None:
                    return
        except TransportError as exc:
            call.failure = transport_failure(exc)
        finally:
            await self.aclose()  # the rest of this chat is not needed

    async def aclose(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            await call.aclose()
