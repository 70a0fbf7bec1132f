"""Server-sent events: encoding (sse-starlette's event class only, trap 10), the response
headers (trap 11) and a stream wrapper that sends a comment at once, then at least every
heartbeat interval while the upstream is silent (trap 3)."""
from __future__ import annotations

from typing import AsyncIterator

import orjson
from quart import Response
from sse_starlette.event import ServerSentEvent

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}

PING = ServerSentEvent(comment="ping", sep="\n").encode()
DONE = ServerSentEvent(data="[DONE]", sep="\n").encode()


def data(obj: object) -> bytes:
    """A `data:` frame. JSON from orjson never contains a raw newline, so one line suffices;
    this is the hot path, so it skips the general multi-line splitter."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def event(name: str, obj: object) -> bytes:
    return ServerSentEvent(data=orjson.dumps(obj).decode(), event=name, sep="\n").encode()


def sse_response(body: AsyncIterator[bytes]) -> Response:
    response = Response(body, status=200, content_type="text/event-stream", headers=SSE_HEADERS)
    response.timeout = None  # trap 1: Quart's RESPONSE_TIMEOUT would cut long streams
    return response
