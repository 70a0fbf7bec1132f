"""The HTTP rules every route follows, written once as an ASGI layer in front of both the fast
path and Quart: CORS, the request body limit, and error envelopes for failures that escape
the app underneath.

* CORS: any origin, method and header (the WebUI and third-party web clients call the API
  from browsers). Preflights are answered here; every other response gets the headers added.
  The admin API (`/admin…`) gets none, preflights included: a page of another origin must
  not read the account table even if it knows or guesses the admin secret.
* Body: read here in full, up to `max_body` bytes, then handed on as one message; a body
  over the limit is a 413 before any route runs. A body that stops arriving for
  `body_stall` seconds (also before its first byte), or that trickles in for longer than
  `body_timeout`, is a 408: without it a client that sends a head and then nothing would hold
  its connection and the request's task for ever.
* Errors: an `ApiError` or a crash that escapes before the response started becomes the
  route's envelope (`quart_app.errors`); after it started, the log gets it and the
  connection ends.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from addons.errors import ApiError
from addons.request_scope import current as current_request
from quart_app.errors import body_timeout, error_body, error_headers, internal_error, too_large

log = logging.getLogger(__name__)

CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
]

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class HttpPolicy:
    def __init__(self, app: ASGIApp, *, max_body: int, body_timeout: float = 120.0,
                 body_stall: float = 30.0) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.body_stall = body_stall
        self._first_wait = min(body_stall, body_timeout)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        cors = _cors(path)
        if scope["method"] == "OPTIONS" and _is_preflight(scope["headers"]):
            return await _respond(send, 204, b"", [], cors)
        try:
            # Usually the body came with the head and is there already: the timer costs a few
            # microseconds and never fires.
            async with asyncio.timeout(self._first_wait) as deadline:
                first = await receive()
                if first["type"] != "http.request":
                    return  # the client left before its body arrived: nobody to answer
                if first.get("more_body", False):
                    first = await self._read_rest(scope, first, receive, deadline)
        except TimeoutError:
            first = body_timeout()
        if first is None:
            return
        if isinstance(first, ApiError):
            return await _reject(send, first, path)
        size = len(first.get("body", b""))
        if size > self.max_body:
            return await _reject(send, too_large(self.max_body), path)
        info = current_request()
        if info is not None:
            info.bytes_in = size  # the request's size, for usage accounting
        pending: dict | None = first

        # Plain functions that return the awaitable: no extra coroutine per message.
        def replay() -> Awaitable[dict]:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return _ready(message)
            return receive()  # what follows the body: the client's disconnect

        replay.raw = receive  # type: ignore[attr-defined]  # for quart_app.disconnect

        started = False

        def send_with_cors(message: dict) -> Awaitable[None]:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *cors]
            return send(message)

        try:
            await self.app(scope, replay, send_with_cors)
        except ApiError as err:
            if started:
                log.warning("%r after the response started on %s", err, path)
                return
            await _reject(send, err, path)
        except Exception:  # noqa: BLE001 - details go to the log, never to the client
            log.exception("unhandled error on %s %s", scope["method"], path)
            if not started:
                await _reject(send, internal_error(), path)
            # else the response is cut short; the server ends the connection

    async def _read_rest(self, scope: dict, first: dict, receive: Callable,
                         deadline: asyncio.Timeout) -> dict | ApiError | None:
        """The whole body as one message, from its first piece `first`; an error to answer
        when it is too large; None when the client left. `deadline` is moved on with every
        piece: `body_stall` ahead, never past `body_timeout` after the first piece."""
        declared = _content_length(scope["headers"])
        if declared is not None and declared > self.max_body:
            return too_large(self.max_body)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.body_timeout
        chunks = [first.get("body", b"")]
        size = len(chunks[0])
        while size <= self.max_body:
            deadline.reschedule(min(loop.time() + self.body_stall, give_up_at))
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False) and size <= self.max_body:
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return too_large(self.max_body)


def _cors(path: str) -> list[tuple[bytes, bytes]]:
    """The CORS headers of `path`: none for the admin API."""
    return [] if path == "/admin" or path.startswith("/admin/") else CORS


def _is_preflight(headers: list[tuple[bytes, bytes]]) -> bool:
    """A browser's CORS preflight, as opposed to a plain OPTIONS a route may answer itself."""
    return any(name == b"access-control-request-method" for name, _ in headers)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _ready(value: Any) -> Any:
    return value


async def _reject(send: Callable, err: ApiError, path: str) -> None:
    """`err` as the whole response, in the envelope of `path`'s dialect."""
    await _respond(send, err.status, error_body(err, path), error_headers(err), _cors(path))


async def _respond(send: Callable, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]],
                   cors: list[tuple[bytes, bytes]]) -> None:
    """A whole response written by this layer (it bypasses `send_with_cors`)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", b"%d" % len(body)), *cors]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
