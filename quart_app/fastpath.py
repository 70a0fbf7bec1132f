"""An ASGI fast path in front of the Quart app for the hot API routes.

Measured on this project's 2-core benchmark machine, Quart's per-request machinery (three
tasks, request and app contexts, signals, routing, Response objects) costs about half a
millisecond — as much as Hypercorn itself and more than our whole chain. The chat routes
(`/v1/chat/completions`, `/v1/responses`, `/v1/messages`, `…/count_tokens`) are therefore
served here at the ASGI level: body read with the size limit, the route's plain handler,
CORS, error envelopes and client-disconnect cancellation. Every other route, the lifecycle
and the admin surface stay with Quart.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import orjson

from addons.errors import ApiError
from quart_app.errors import error_body
from quart_app.sse import SSE_HEADERS

log = logging.getLogger(__name__)

CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
]
SSE = [(k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()]


@dataclass(slots=True)
class Reply:
    """What a hot route returns: a JSON body, or an SSE stream."""

    status: int = 200
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, payload: object, status: int = 200) -> "Reply":
        return cls(status, orjson.dumps(payload))

    @classmethod
    def sse(cls, body: AsyncIterator[bytes]) -> "Reply":
        return cls(200, stream=body)


Handler = Callable[[Any, Mapping[str, str], bytes], Awaitable[Reply]]


class FastPath:
    def __init__(self, app: Callable, services: Any, routes: dict[str, Handler],
                 max_body: int) -> None:
        self.app = app
        self.services = services
        self.routes = routes
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        handler = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if handler is None:
            return await self.app(scope, receive, send)
        anthropic = scope["path"].startswith("/v1/messages")
        method = scope["method"]
        if method == "OPTIONS":
            return await _send_simple(send, 204, b"", [])
        if method != "POST":
            err = ApiError(405, f"Method {method} is not allowed here; use POST",
                           type="validation_error", code="method_not_allowed")
            return await _send_simple(send, 405, error_body(err, anthropic), _JSON)
        body = await self._read_body(receive)
        if body is _GONE:
            return  # the client left before its body arrived: nobody to answer
        if body is None:
            err = ApiError(413, f"Request body is larger than the limit "
                                f"({self.max_body >> 20} MiB, app.max_body_mb)",
                           type="validation_error", code="request_too_large")
            return await _send_simple(send, 413, error_body(err, anthropic), _JSON)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await self._serve(handler, headers, body, receive, send, anthropic)

    async def _read_body(self, receive: Callable) -> bytes | None:
        """The whole body; None when it is over the limit, `_GONE` when the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return _GONE
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not msg.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _serve(self, handler: Handler, headers: dict[str, str], body: bytes,
                     receive: Callable, send: Callable, anthropic: bool) -> None:
        """Runs the handler while watching for the client's disconnect, which cancels it at
        once (a vanished client must free its account and upstream transfer)."""
        task = asyncio.current_task()
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            try:
                reply = await handler(self.services, headers, body)
            except ApiError as err:
                reply = Reply(err.status, error_body(err, anthropic))
            except Exception:  # noqa: BLE001 - details go to the log, never to the client
                log.exception("unhandled error on %s", "messages" if anthropic else "openai route")
                err = ApiError(500, "Internal server error", type="server_error",
                               code="internal_error")
                reply = Reply(500, error_body(err, anthropic))
            if reply.stream is None:
                await _send_simple(send, reply.status, reply.body, _JSON)
            else:
                await _send_stream(send, reply.stream)
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
        finally:
            watcher.cancel()


_JSON = [(b"content-type", b"application/json")]
_GONE: Any = object()  # the client left before its body arrived


async def _send_simple(send: Callable, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode()), *CORS]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_stream(send: Callable, stream: AsyncIterator[bytes]) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), *SSE, *CORS]})
    try:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
