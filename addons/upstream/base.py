"""The upstream transport interface: the one extension point between the chain and grok.com.

`Transport.open(request, timeouts)` sends one `UpstreamRequest` and returns once its status is
known; the `UpstreamStream` then yields neutral events. Implementations: REST chat (curl_cffi,
NDJSON; `transport.py`), the mgw WebSocket chat (`mgw.py`), and `mock.MockTransport` for
tests. `router.TransportRouter` mounts one transport per kind of job, as httpx's `mounts`
does per URL pattern. The pipeline and the addons see only this interface.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol

from addons.events import Event
from addons.upstream.wire import UpstreamRequest


@dataclass(frozen=True, slots=True)
class Timeouts:
    """App-enforced timeouts (curl's own are stall timeouts only)."""

    connect: float = 10.0
    first_byte: float = 30.0  # until response headers and until the first body byte
    idle: float = 60.0  # between body chunks
    total: float = 600.0  # whole transfer
    heartbeat: float = 15.0  # yield a Heartbeat event after this much silence
    coalesce: float = 0.0  # gather frames arriving this soon after the previous batch


class TransportError(Exception):
    """The upstream could not be reached or the connection broke. Maps to 502."""


class UpstreamTimeout(TransportError):
    """First-byte, idle or total timeout. `kind` is first_byte | idle | total. Maps to 504."""

    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(f"upstream {kind} timeout after {seconds:g}s")
        self.kind = kind


class UpstreamStream(Protocol):
    status: int

    async def error_body(self, limit: int = 4096) -> str:
        """For a non-200 status: up to `limit` characters of the body."""

    def events(self) -> AsyncIterator[list[Event]]:
        """Batches of parsed neutral events (everything parsed from the bytes available at
        once), until the upstream ends the answer; [Heartbeat()] on silence.

        Raises TransportError / UpstreamTimeout. An in-band error is yielded as
        UpstreamFailure (and ends the iteration)."""

    async def aclose(self) -> None:
        """Stop the transfer at once (cancel, not drain) and free the connection."""


class Transport(Protocol):
    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        """Send the request; return once the response status is known."""

    async def aclose(self) -> None: ...
