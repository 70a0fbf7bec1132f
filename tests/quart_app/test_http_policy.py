"""The policy layer at the ASGI level: body replay, a body that never ends, errors after the
response started."""
from __future__ import annotations

import asyncio

import orjson

from addons.errors import ApiError
from quart_app.http_policy import HttpPolicy


class Wire:
    def __init__(self, *messages: dict, then_wait: bool = False) -> None:
        self.incoming = list(messages)
        self.then_wait = then_wait
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.incoming:
            return self.incoming.pop(0)
        if self.then_wait:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    def json(self) -> dict:
        return orjson.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def scope(path: str = "/v1/chat/completions", method: str = "POST") -> dict:
    return {"type": "http", "method": method, "path": path, "headers": []}


def part(body: bytes, more: bool) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_the_body_reaches_the_app_in_one_message() -> None:
    got: list[dict] = []

    async def app(scope, receive, send) -> None:
        got.append(await receive())
        got.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wire = Wire(part(b"ab", True), part(b"cd", True), part(b"", False))
    await HttpPolicy(app, max_body=10)(scope(), wire.receive, wire.send)
    assert got == [part(b"abcd", False), {"type": "http.disconnect"}]
    assert (b"access-control-allow-origin", b"*") in wire.sent[0]["headers"]


async def test_a_body_that_never_ends_is_a_408() -> None:
    async def app(scope, receive, send) -> None:
        raise AssertionError("never called")

    wire = Wire(part(b"{", True), then_wait=True)
    await HttpPolicy(app, max_body=10, body_timeout=0.05)(scope("/v1/messages"), wire.receive,
                                                          wire.send)
    assert wire.status == 408
    assert wire.json()["type"] == "error" and wire.json()["error"]["code"] == "request_timeout"


async def test_an_error_after_the_response_started_is_logged_not_answered(caplog) -> None:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    wire = Wire(part(b"", False))
    await HttpPolicy(app, max_body=10)(scope(), wire.receive, wire.send)
    assert len(wire.sent) == 1 and "unhandled error" in caplog.text


async def test_an_api_error_from_the_app_gets_the_envelope() -> None:
    async def app(scope, receive, send) -> None:
        raise ApiError(429, "busy", code="rate_limit_exceeded")

    wire = Wire(part(b"", False))
    await HttpPolicy(app, max_body=10)(scope(), wire.receive, wire.send)
    assert wire.status == 429
    assert wire.json() == {"error": {"message": "busy", "type": "rate_limit_error",
                                     "code": "rate_limit_exceeded", "param": None,
                                     "status": 429}}


async def test_the_admin_api_gets_no_cors_headers_preflight_included() -> None:
    async def app(scope, receive, send) -> None:
        if scope["path"].endswith("/fail"):
            raise ApiError(401, "Invalid admin key")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    preflight = {"type": "http", "method": "OPTIONS", "headers": [
        (b"origin", b"https://evil.example"), (b"access-control-request-method", b"GET")]}
    for path in ("/admin/api/tokens", "/admin"):
        wire = Wire()
        await HttpPolicy(app, max_body=10)({**preflight, "path": path}, wire.receive, wire.send)
        assert wire.status == 204
        assert not any(name.startswith(b"access-control-") for name, _ in wire.sent[0]["headers"])
    for path in ("/admin/api/tokens", "/admin/api/fail"):
        wire = Wire(part(b"", False))
        await HttpPolicy(app, max_body=10)(scope(path, "GET"), wire.receive, wire.send)
        assert not any(name.startswith(b"access-control-") for name, _ in wire.sent[0]["headers"])
    # the rest of the API keeps its CORS, and a path that only starts like it is not admin
    for path in ("/v1/models", "/administrator"):
        wire = Wire(part(b"", False))
        await HttpPolicy(app, max_body=10)(scope(path, "GET"), wire.receive, wire.send)
        assert (b"access-control-allow-origin", b"*") in wire.sent[0]["headers"]


async def test_a_body_that_never_starts_is_a_408() -> None:
    async def app(scope, receive, send) -> None:  # pragma: no cover - never reached
        raise AssertionError("the app ran without a body")

    wire = Wire(then_wait=True)
    await asyncio.wait_for(HttpPolicy(app, max_body=10, body_stall=0.05)(
        scope(), wire.receive, wire.send), 2)
    assert wire.status == 408 and wire.json()["error"]["code"] == "request_timeout"


async def test_a_body_that_keeps_coming_is_not_cut_by_the_stall_limit() -> None:
    got: list[dict] = []

    async def app(scope, receive, send) -> None:
        got.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    class Slow(Wire):
        async def receive(self) -> dict:
            await asyncio.sleep(0.03)  # each piece within the stall limit, all of them beyond
            return await super().receive()

    wire = Slow(part(b"a", True), part(b"b", True), part(b"c", True), part(b"", False))
    await HttpPolicy(app, max_body=10, body_stall=0.05)(scope(), wire.receive, wire.send)
    assert wire.status == 200 and got == [part(b"abc", False)]
