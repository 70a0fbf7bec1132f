"""Server-sent events: encoding and the response headers.

Only `sse_starlette.event` is imported (its package root pulls in Starlette and patches
uvicorn), always with `sep="\n"`. Streams are never gzipped, and `Cache-Control: no-cache`
with `X-Accel-Buffering: no` keep proxies from buffering them."""
from __future__ import annotations

import logging
from typing import AsyncIterator

import orjson
from quart import Response
from sse_starlette.event import ServerSentEvent

from addons.errors import ApiError
from quart_app.errors import error_payload

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
#: The same headers for the ASGI fast path.
SSE_ASGI_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()]

PING = ServerSentEvent(comment="ping", sep="\n").encode()
DONE = ServerSentEvent(data="[DONE]", sep="\n").encode()


def data(obj: object) -> bytes:
    """A `data:` frame. JSON from orjson never contains a raw newline, so one line suffices;
    this is the hot path, so it skips the general multi-line splitter."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def event(name: str, obj: object) -> bytes:
    return ServerSentEvent(data=orjson.dumps(obj).decode(), event=name, sep="\n").encode()


def error_tail(exc: Exception, log: logging.Logger, flow_id: str) -> bytes:
    """The `error` event that ends an OpenAI-style stream which failed after it started: the
    flow's ApiError, or (logged) a plain 500 for a crash, so the client still gets a
    well-formed end of stream."""
    if not isinstance(exc, ApiError):
        log.error("stream %s failed", flow_id, exc_info=exc)
        exc = ApiError(500, "Internal server error", type="server_error", code="internal_error")
    return event("error", error_payload(exc))


def sse_response(body: AsyncIterator[bytes]) -> Response:
    response = Response(body, status=200, content_type="text/event-stream", headers=SSE_HEADERS)
    response.timeout = None  # Quart's RESPONSE_TIMEOUT would cut long streams
    return response
