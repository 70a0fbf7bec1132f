"""The layers every route passes, over real sockets: a fast-path route (chat, messages) and a
Quart route (models, unknown paths, admin) must look the same to a client in CORS headers,
error envelopes, status codes and `X-Request-Id`; the log gets the request id and one access
line per request, never the key."""
from __future__ import annotations

import asyncio
import logging
import re
import time

import orjson
import pytest

from quart_app.request_log import RequestIdFilter

KEY = "sk-layers-secret-0123456789"
CHAT = {"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "hi"}]}
CORS = {"access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "access-control-allow-headers": "*", "access-control-max-age": "86400"}
HEX16 = re.compile(r"^[0-9a-f]{16}$")


async def call(stack, method: str, path: str, **kw) -> tuple[int, dict[str, str], object]:
    async with stack.http() as http:
        async with http.request(method, path, **kw) as resp:
            raw = await resp.read()
            json_body = resp.headers.get("content-type", "").startswith("application/json")
            body = orjson.loads(raw) if json_body else raw
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, body


def envelope_shape(status: int, headers: dict[str, str], body: object, anthropic: bool) -> tuple:
    """What must match between the two kinds of route: everything but the message text."""
    assert headers["content-type"].startswith("application/json")
    assert {k: headers.get(k) for k in CORS} == CORS
    assert HEX16.match(headers["x-request-id"])
    assert isinstance(body, dict)
    if anthropic:
        assert body["type"] == "error" and set(body) == {"type", "error", "request_id"}
    else:
        assert set(body) == {"error", "request_id"}
    # the body names the request as the header does (a client may keep only the body)
    assert body["request_id"] == headers["x-request-id"]
    err = body["error"]
    assert set(err) == {"message", "type", "code", "param", "status"} and err["message"]
    assert err["status"] == status
    return status, err["type"], err["code"], err["param"]


async def test_401_looks_the_same_on_both_kinds_of_route(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    fast = await call(stack, "POST", "/v1/chat/completions", json=CHAT)
    quart = await call(stack, "GET", "/v1/models")
    assert envelope_shape(*fast, anthropic=False) == envelope_shape(*quart, anthropic=False) \
        == (401, "authentication_error", "missing_api_key", None)
    anthropic = await call(stack, "POST", "/v1/messages", json=CHAT)
    assert envelope_shape(*anthropic, anthropic=True)[1:] == ("authentication_error",
                                                              "missing_api_key", None)


async def test_500_looks_the_same_on_both_kinds_of_route_and_logs_the_request_id(
        stack, caplog, monkeypatch):
    await stack.start_gateway()
    svc = stack.gateway.services

    async def broken_open(flow):
        raise RuntimeError("boom in the chain")

    def broken_models():
        raise RuntimeError("boom in the catalogue")

    monkeypatch.setattr(svc.pipeline, "open", broken_open)
    monkeypatch.setattr(svc, "available_models", broken_models)
    caplog.handler.addFilter(RequestIdFilter())  # as the serving handler has it
    caplog.set_level(logging.INFO)
    shapes = []
    for method, path, kw, anthropic in [
            ("POST", "/v1/chat/completions", {"json": CHAT}, False),
            ("GET", "/v1/models", {}, False),
            ("POST", "/v1/messages", {"json": {**CHAT, "max_tokens": 10}}, True)]:
        status, headers, body = await call(stack, method, path, **kw)
        shapes.append(envelope_shape(status, headers, body, anthropic))
        assert "boom" not in str(body)
        rid = headers["x-request-id"]
        crash = [r for r in caplog.records if r.exc_info and r.request_id == rid]
        assert len(crash) == 1 and path in crash[0].getMessage(), caplog.text
    assert set(shapes) == {(500, "server_error", "internal_error", None)}


@pytest.mark.parametrize("path,anthropic", [
    ("/v1/chat/completions", False),  # fast path
    ("/v1/models", False),  # Quart
    ("/v1/messages", True),  # fast path, Anthropic
    ("/v1/messages/nope", True),  # Quart, Anthropic
])
async def test_413_on_every_kind_of_route(stack, path, anthropic):
    await stack.start_gateway(GROK_APP_MAX_BODY_MB="1")
    big = b"x" * ((1 << 20) + 1)
    shape = envelope_shape(*await call(stack, "POST", path, data=big), anthropic=anthropic)
    assert shape == (413, "validation_error", "request_too_large", None)

    async def chunked():  # no Content-Length: the limit is counted while the body arrives
        for _ in range(3):
            yield b"y" * (512 << 10)

    shape = envelope_shape(*await call(stack, "POST", path, data=chunked()), anthropic=anthropic)
    assert shape == (413, "validation_error", "request_too_large", None)


async def test_a_chunked_body_under_the_limit_reaches_both_kinds_of_route(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    raw = orjson.dumps(CHAT)

    async def chunked():
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    status, _, body = await call(stack, "POST", "/v1/chat/completions", data=chunked(),
                                 headers={"content-type": "application/json"})
    assert status == 200 and body["choices"][0]["message"]["content"]


async def test_405_on_both_kinds_of_route(stack):
    await stack.start_gateway()
    fast = await call(stack, "GET", "/v1/chat/completions")
    quart = await call(stack, "POST", "/v1/models")
    assert envelope_shape(*fast, anthropic=False) == envelope_shape(*quart, anthropic=False) \
        == (405, "validation_error", "method_not_allowed", None)
    assert "POST" in fast[1]["allow"] and "GET" in quart[1]["allow"]
    anthropic = await call(stack, "PUT", "/v1/messages", json={})
    assert envelope_shape(*anthropic, anthropic=True)[0] == 405


async def test_cors_on_success_preflight_and_stream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    for path in ("/v1/chat/completions", "/v1/models"):
        status, headers, _ = await call(stack, "OPTIONS", path, headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert status == 204 and {k: headers.get(k) for k in CORS} == CORS
    status, headers, _ = await call(stack, "GET", "/health")
    assert status == 200 and {k: headers.get(k) for k in CORS} == CORS
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
            await resp.read()
            assert resp.status == 200 and resp.headers["access-control-allow-origin"] == "*"
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert HEX16.match(resp.headers["x-request-id"])


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models"])
async def test_request_id_generated_kept_or_replaced(stack, path):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)  # a 401: the id rides on errors too
    method = "POST" if path.endswith("completions") else "GET"

    async def rid(sent: str | None) -> str:
        headers = {} if sent is None else {"X-Request-Id": sent}
        _, got, _ = await call(stack, method, path, json=CHAT if method == "POST" else None,
                               headers=headers)
        return got["x-request-id"]

    first, second = await rid(None), await rid(None)
    assert HEX16.match(first) and HEX16.match(second) and first != second
    for sane in ("trace-42", "a" * 128, "0f:1e/2d=3c"):
        assert await rid(sane) == sane
    for insane in ("two words", "a" * 129):
        got = await rid(insane)
        assert got != insane and HEX16.match(got)


async def test_access_log_line_per_request_without_the_key(stack, caplog):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    stack.add_account("tok-a", "basic")
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="grok2api.access")
    auth = {"Authorization": f"Bearer {KEY}"}
    ids = {}
    for method, path, kw in [
            ("POST", "/v1/chat/completions", {"json": CHAT, "headers": auth}),
            ("POST", "/v1/chat/completions", {"json": {**CHAT, "stream": True},
                                              "headers": auth}),
            ("GET", "/v1/models", {"headers": {"x-api-key": KEY}}),
            ("GET", "/v1/models?app_key=" + KEY, {}),
            ("GET", "/health", {})]:
        status, headers, _ = await call(stack, method, path, **kw)
        ids[headers["x-request-id"]] = (method, path.split("?")[0], status)
    lines = [r for r in caplog.records if r.name == "grok2api.access"]
    assert {r.request_id: (r.http_method, r.http_path, r.http_status) for r in lines} == ids
    assert KEY not in caplog.text and KEY[:8] not in caplog.text
    by_id = {r.request_id: r for r in lines}
    keys = [by_id[i].key for i in ids]
    assert keys[0] == keys[1] == keys[2] and keys[0].startswith("fp:")  # one key, one label
    assert keys[3] == keys[4] == "-"
    assert all(r.duration_ms >= 0 and f"{r.http_method} {r.http_path} {r.http_status} "
               in r.getMessage() for r in lines)


async def test_access_log_marks_a_stream_the_client_left(stack, caplog):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    caplog.set_level(logging.INFO, logger="grok2api.access")
    async with stack.http() as http:
        resp = await http.post("/v1/chat/completions", json={
            **CHAT, "stream": True,
            "messages": [{"role": "user", "content": "[[sim tokens=400 delay_ms=20]]"}]})
        await resp.content.readany()
        rid = resp.headers["x-request-id"]
        resp.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        lines = [r for r in caplog.records if r.name == "grok2api.access"]
        if lines:
            break
        await asyncio.sleep(0.02)
    assert len(lines) == 1 and lines[0].http_status == 200
    assert "(response not completed)" in lines[0].getMessage()
    assert rid  # the id was on the stream's headers
