"""The connection rules Hypercorn lacks: a deadline for a new connection's first request head,
the keep-alive idle limit, and a cap on the connections one process holds open.

Hypercorn (0.17–0.18) closes a quiet connection only through its idle timer, which runs from
the moment the connection opens (or a response ends) until a complete request head arrives,
with `keep_alive_timeout` for both. A connection that sends nothing, or trickles a head, so
stays for the whole keep-alive time, and nothing bounds how many there are: each holds a file
descriptor, and a process out of them can neither accept clients nor reach grok.com.
Hypercorn's `read_timeout` does not help: it bounds every read, also while a long stream is
written to a client that has nothing more to send, and would cut that stream.

`GuardedTCPServer` takes the place of Hypercorn's per-connection server (`install`):

* its idle timer gives a new connection `head_timeout` seconds to send its first complete
  head, and a connection whose response ended `keep_alive` seconds to send the next one (a
  head that trickles in counts against the same limit); on shutdown idle connections close at
  once, as with Hypercorn's own timer;
* beyond `max_connections` open connections in this process, a new connection is answered 503
  with `Retry-After` before any of Hypercorn's protocol runs, and closed.

`configure` puts the limits on a Hypercorn `Config` (`grok2api serve` does, from the settings);
a plain `Config` keeps Hypercorn's behaviour.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config

from addons.errors import ApiError
from quart_app.errors import error_body
from quart_app.http_policy import CORS
from quart_app.keepalive import DeferredIdleTask

log = logging.getLogger(__name__)

#: Seconds a refused connection gets to send its request line (its path picks the error
#: envelope), and then to read the 503.
REFUSE_GRACE = 1.0
#: Refused connections given that moment at once; more are closed straight after the 503 is
#: written, so a flood beyond the cap cannot pile up descriptors in the refusal either.
MAX_LINGERING = 64
#: Seconds between two log lines about refused connections (a flood must not flood the log).
REFUSAL_LOG_EVERY = 10.0
RETRY_AFTER_SEC = 1
_ATTR = "grok2api_connection_limits"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout: float
    keep_alive: float
    max_connections: int | None  # None: no cap

    @classmethod
    def of(cls, config: Config) -> ConnectionLimits:
        limits = getattr(config, _ATTR, None)
        if limits is None:  # Hypercorn's own rules
            return cls(config.keep_alive_timeout, config.keep_alive_timeout, None)
        return limits


def configure(config: Config, limits: ConnectionLimits) -> None:
    """Serve `config`'s connections under `limits` (the attribute travels to spawned workers
    with the pickled config)."""
    config.keep_alive_timeout = limits.keep_alive
    setattr(config, _ATTR, limits)


def install() -> None:
    """Make Hypercorn's asyncio server run each connection as a `GuardedTCPServer` (idempotent;
    Hypercorn looks the class up in its `run` module for every accepted connection)."""
    from hypercorn.asyncio import run

    run.TCPServer = GuardedTCPServer  # type: ignore[misc]


class GuardedTCPServer(TCPServer):
    #: Connections this process holds open (every listener, every app it serves).
    open_connections = 0
    #: Refused connections still given a moment to send their request line and read the 503.
    lingering = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.idle_task = DeferredIdleTask()  # type: ignore[assignment]
        self.limits = ConnectionLimits.of(self.config)

    async def run(self) -> None:
        cap = self.limits.max_connections
        if cap is not None and GuardedTCPServer.open_connections >= cap:
            _REFUSALS.note(GuardedTCPServer.open_connections, cap)
            if GuardedTCPServer.lingering >= MAX_LINGERING:
                return await refuse(self.reader, self.writer, linger=False)
            GuardedTCPServer.lingering += 1
            try:
                return await refuse(self.reader, self.writer, linger=True)
            finally:
                GuardedTCPServer.lingering -= 1
        GuardedTCPServer.open_connections += 1
        try:
            await super().run()
        finally:
            GuardedTCPServer.open_connections -= 1

    async def _idle_timeout(self) -> None:
        """Close the connection when its idle period runs out, or at once on shutdown. The
        deferred timer starts this late, so the deadline counts from when the period began."""
        idle = self.idle_task
        first = idle.periods <= 1  # no request yet: waiting for the first head
        limit = self.limits.head_timeout if first else self.limits.keep_alive
        try:
            async with asyncio.timeout_at(idle.since + limit):
                await self.context.terminated.wait()
        except TimeoutError:
            pass
        await asyncio.shield(self._initiate_server_close())


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 linger: bool) -> None:
    """Answer a connection over the cap with a 503 and close it. With `linger` the client gets
    a moment to send its request line (so the error comes in its route's envelope) and to read
    the answer: closing a socket with unread input resets the connection, and the reset can
    overtake the answer on its way to the client."""
    loop = asyncio.get_running_loop()
    path = await _request_path(reader, loop.time() + REFUSE_GRACE) if linger else ""
    err = ApiError(503, "The server holds too many open connections; retry in a moment",
                   code="too_many_connections")
    body = error_body(err, path)
    head = [b"HTTP/1.1 503 Service Unavailable", b"content-type: application/json",
            b"content-length: %d" % len(body), b"retry-after: %d" % RETRY_AFTER_SEC,
            b"connection: close", *(name + b": " + value for name, value in CORS)]
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        writer.write_eof()
        if linger:
            async with asyncio.timeout_at(loop.time() + REFUSE_GRACE):
                await writer.drain()
                while await reader.read(1 << 16):  # until the client closes its side
                    pass
    except (OSError, RuntimeError, TimeoutError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, RuntimeError):
            pass


async def _request_path(reader: asyncio.StreamReader, deadline: float) -> str:
    """The path of the request line, or "" if it does not come by `deadline` or is no HTTP."""
    try:
        async with asyncio.timeout_at(deadline):
            line = await reader.readline()
    except (OSError, TimeoutError, ValueError):  # ValueError: a line longer than the buffer
        return ""
    parts = line.split()
    if len(parts) != 3:
        return ""
    return parts[1].partition(b"?")[0].decode("latin-1")


class _RefusalLog:
    """Refused connections, counted and logged at most every `REFUSAL_LOG_EVERY` seconds."""

    __slots__ = ("refused", "_last")

    def __init__(self) -> None:
        self.refused = 0
        self._last: float | None = None

    def note(self, open_now: int, cap: int) -> None:
        self.refused += 1
        now = asyncio.get_running_loop().time()
        if self._last is not None and now - self._last < REFUSAL_LOG_EVERY:
            return
        log.warning("refusing connections with 503: %d open, server.max_connections is %d "
                    "(%d refused so far)", open_now, cap, self.refused)
        self._last = now


_REFUSALS = _RefusalLog()
