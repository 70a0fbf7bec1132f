"""A transport that answers from a function, as httpx's `MockTransport` does: tests script
the upstream without a network.

    transport = MockTransport(lambda req: MockResponse.text("Hello"))
    transport = MockTransport.script(MockResponse(429, body='{"error":{"code":8}}'),
                                     MockResponse.text("fine"))

It serves both sides of the upstream interface: `open()` (a streamed answer of neutral
events, what the chat transports do) and `request()` (a short buffered call: rate limits,
uploads, account settings). A handler may return a `MockResponse`, raise (e.g.
`TransportError`), or be async. Every request is kept in `requests`
(and the timeout of every `request()` call in `timeouts`).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import orjson

from addons.events import End, Event, TextDelta
from addons.upstream.base import Timeouts
from addons.upstream.wire import UpstreamRequest

Handler = Callable[[UpstreamRequest], "MockResponse | Awaitable[MockResponse]"]


@dataclass(slots=True)
class MockResponse:
    """`batches` are what `events()` yields, one list per upstream read; an exception in
    their place is raised at that point. `body` is the error body of a non-200 `open()`,
    or the body of a `request()`."""

    status: int = 200
    batches: Sequence[list[Event] | BaseException] = ()
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, *parts: str) -> "MockResponse":
        """A 200 answer made of these text pieces (one read), then the end."""
        return cls(200, [[TextDelta(p) for p in parts], [End()]])

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> "MockResponse":
        return cls(status, body=orjson.dumps(payload),
                   headers={"content-type": "application/json"})

    def body_bytes(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


class MockStream:
    """The `UpstreamStream` of a `MockResponse`."""

    def __init__(self, response: MockResponse) -> None:
        self.response = response
        self.status = response.status
        self.closed = False

    async def error_body(self, limit: int = 4096) -> str:
        return self.response.body_bytes().decode("utf-8", "replace")[:limit]

    async def events(self) -> AsyncIterator[list[Event]]:
        for batch in self.response.batches:
            if isinstance(batch, BaseException):
                raise batch
            yield list(batch)

    async def aclose(self) -> None:
        self.closed = True


class MockTransport:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[UpstreamRequest] = []
        self.timeouts: list[float] = []  # of each `request()` call, in order
        self.streams: list[MockStream] = []
        self.closed = False

    @classmethod
    def script(cls, *responses: MockResponse) -> "MockTransport":
        """Answers the Nth request with the Nth response."""
        queue = list(responses)

        def next_response(_: UpstreamRequest) -> MockResponse:
            if not queue:
                raise AssertionError("MockTransport.script: more requests than scripted answers")
            return queue.pop(0)
        return cls(next_response)

    async def _answer(self, request: UpstreamRequest) -> MockResponse:
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> MockStream:
        stream = MockStream(await self._answer(request))
        self.streams.append(stream)
        return stream

    async def request(self, request: UpstreamRequest, timeout: float = 30.0, *,
                      allow_redirects: bool = False,
                      proxy: str | None = None) -> tuple[int, dict[str, str], bytes]:
        self.timeouts.append(timeout)
        answer = await self._answer(request)
        return answer.status, dict(answer.headers), answer.body_bytes()

    @property
    def tokens(self) -> list[str]:
        """The account (sso cookie) of every request, in order."""
        return [sso_token(r) for r in self.requests]

    async def aclose(self) -> None:
        self.closed = True


def sso_token(request: UpstreamRequest) -> str:
    """The account a request was sent for: the `sso` value of its Cookie header."""
    cookie = request.headers.get("Cookie", "")
    return cookie.split(";")[0].strip().removeprefix("sso=")
