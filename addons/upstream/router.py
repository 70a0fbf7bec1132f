"""One transport per kind of job, as httpx's `mounts` routes by URL pattern.

The services mount the chat transport (REST or mgw, `upstream.chat_transport`) under `chat`;
the media issues mount their transports under their kinds. The pipeline asks `serves(kind)`
before any account is leased, so a job nobody serves ends with a clear error at once.
"""
from __future__ import annotations

from typing import Mapping

from addons.upstream.base import Timeouts, Transport, UpstreamStream
from addons.upstream.wire import UpstreamRequest


class TransportRouter:
    def __init__(self, mounts: Mapping[str, Transport]) -> None:
        self.mounts = dict(mounts)

    def serves(self, kind: str) -> bool:
        return kind in self.mounts

    def get(self, kind: str) -> Transport:
        return self.mounts[kind]

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        return await self.mounts[request.kind].open(request, timeouts)

    async def aclose(self) -> None:
        """Closes each mounted transport once (one may be mounted under several kinds)."""
        seen: set[int] = set()
        for transport in self.mounts.values():
            if id(transport) not in seen:
                seen.add(id(transport))
                await transport.aclose()
