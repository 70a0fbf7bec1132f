"""An ASGI fast path in front of the Quart app for the hot API routes.

Measured on this project's 2-core benchmark machine, Quart's per-request machinery (three
tasks, request and app contexts, signals, routing, Response objects) costs about half a
millisecond — as much as Hypercorn itself and more than our whole chain. The chat routes
(`/v1/chat/completions`, `/v1/responses`, `/v1/messages`, `…/count_tokens`) are therefore
served here at the ASGI level: the route's plain handler, its reply, and client-disconnect
cancellation (`disconnect.py`, without a task per request). Every other route, the lifecycle
and the admin surface stay with Quart.

What every route shares (CORS, the body limit, error envelopes, the request id and access
log) is done by the layers around both, in `quart_app.app.build_stack`: a handler's
`ApiError`, or its crash, propagates to `quart_app.http_policy`, which renders it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import orjson

from quart_app.disconnect import DisconnectWatch
from quart_app.errors import MethodNotAllowed
from quart_app.sse import SSE_ASGI_HEADERS


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
    def __init__(self, app: Callable, *, services: Any, routes: dict[str, Handler]) -> None:
        self.app = app
        self.services = services
        self.routes = routes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        handler = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if handler is None:
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method == "OPTIONS":  # a preflight never gets here: the policy answers it
            return await _send_simple(send, 204, b"", [_ALLOW])
        if method != "POST":
            raise MethodNotAllowed(method, _ALLOWED)
        body = await _read_body(receive)
        if body is None:
            return  # the client left before its body arrived: nobody to answer
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await self._serve(handler, headers, body, receive, send)

    async def _serve(self, handler: Handler, headers: dict[str, str], body: bytes,
                     receive: Callable, send: Callable) -> None:
        """Runs the handler while watching for the client's disconnect, which cancels it at
        once (a vanished client must free its account and upstream transfer)."""
        task = asyncio.current_task()
        assert task is not None
        watch = DisconnectWatch(receive, task)
        try:
            reply = await handler(self.services, headers, body)
            if reply.stream is None:
                await _send_simple(send, reply.status, reply.body, [_JSON])
            else:
                await _send_stream(send, reply.stream)
        except asyncio.CancelledError:
            if not watch.gone:
                raise
            task.uncancel()
        finally:
            watch.close()


_ALLOWED = ("POST", "OPTIONS")
_ALLOW = (b"allow", b"POST, OPTIONS")
_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), *SSE_ASGI_HEADERS]


async def _read_body(receive: Callable) -> bytes | None:
    """The whole body (its size was checked by the policy layer); None when the client left."""
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send_simple(send: Callable, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_stream(send: Callable, stream: AsyncIterator[bytes]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    try:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
