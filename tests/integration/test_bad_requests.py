"""Every kind of bad request gets its documented error, in the OpenAI envelope, before any
account is touched."""
from __future__ import annotations

import pytest

CHAT = "/rest/app-chat/conversations/new"


def ok_body(**extra):
    return {"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "hi"}], **extra}


async def post(stack, body, headers=None, raw: bytes | None = None):
    async with stack.http() as http:
        kw = {"data": raw, "headers": {"content-type": "application/json", **(headers or {})}} \
            if raw is not None else {"json": body, "headers": headers or {}}
        async with http.post("/v1/chat/completions", **kw) as resp:
            return resp.status, resp.headers.get("content-type", ""), await resp.json()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("body,status,code,param", [
    (ok_body(model="grok-9"), 400, "model_not_found", "model"),
    (ok_body(temperature=3), 400, "invalid_value", "temperature"),
    (ok_body(top_p=2), 400, "invalid_value", "top_p"),
    (ok_body(reasoning_effort="max"), 400, "invalid_value", "reasoning_effort"),
    (ok_body(messages=[{"role": "robot", "content": "x"}]), 400, "invalid_value", "messages.0.role"),
    (ok_body(messages=[]), 400, "invalid_value", "messages"),
    (ok_body(messages=[{"role": "user", "content": ""}]), 400, "invalid_value", "messages"),
    (ok_body(messages=[{"role": "user", "content": [{"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "iVBORw0KGgo="}}]}]),  # raw base64
     400, "invalid_value", "messages.0.content.1.image_url.url"),
])
async def test_validation_errors(stack, body, status, code, param, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    got_status, ctype, payload = await post(stack, {**body, "stream": stream})
    assert got_status == status and ctype.startswith("application/json")
    err = payload["error"]
    assert (err["type"], err["code"], err["param"], err["status"]) == ("validation_error", code, param, status)
    assert err["message"]
    assert stack.sim.state.requests_to(CHAT) == []
    assert stack.gateway.pool.get("tok-a").usage_fail_count == 0


async def test_invalid_json_and_non_object(stack):
    await stack.start_gateway()
    status, _, payload = await post(stack, None, raw=b"{not json")
    assert status == 400 and payload["error"]["type"] == "validation_error"
    status, _, payload = await post(stack, [1, 2])
    assert status == 400


@pytest.mark.parametrize("headers,code", [
    ({}, "missing_api_key"),
    ({"authorization": "Bearer wrong"}, "invalid_api_key"),
    ({"x-api-key": "wrong"}, "invalid_api_key"),
])
async def test_auth_errors_are_401(stack, headers, code):
    await stack.start_gateway(GROK_APP_API_KEY="k1,k2")
    stack.add_account("tok-a", "basic")
    status, _, payload = await post(stack, ok_body(), headers)
    assert status == 401
    assert (payload["error"]["type"], payload["error"]["code"]) == ("authentication_error", code)
    for good in ({"authorization": "Bearer k2"}, {"x-api-key": "k1"}):
        assert (await post(stack, ok_body(), good))[0] == 200
    async with stack.http() as http:
        async with http.get("/v1/models") as resp:
            assert resp.status == 401
        async with http.get("/health") as resp:
            assert resp.status == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_no_account_for_the_tier_is_a_json_429(stack, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")  # cannot serve the super-tier auto mode
    status, ctype, payload = await post(stack, ok_body(model="grok-4.20-0309", stream=stream))
    assert status == 429 and ctype.startswith("application/json")
    assert payload["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_failure_before_first_byte_is_a_json_502(stack, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.sim.state.inject("500", times=5)
    status, ctype, payload = await post(stack, ok_body(stream=stream))
    assert status == 502 and ctype.startswith("application/json")
    assert payload["error"]["type"] == "upstream_error"
    assert "tok-a" not in str(payload)
    assert stack.gateway.pool.get("tok-a").status == "active"
    assert stack.gateway.pool.count_inflight() == 0


async def test_body_over_the_limit_is_413(stack):
    await stack.start_gateway(GROK_APP_MAX_BODY_MB="1")
    big = ok_body(messages=[{"role": "user", "content": "x" * (2 << 20)}])
    status, _, payload = await post(stack, big)
    assert status == 413 and payload["error"]["code"] == "request_too_large"


async def test_unknown_route_is_a_json_404(stack):
    await stack.start_gateway()
    async with stack.http() as http:
        async with http.get("/v1/nope") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["type"] == "validation_error"


async def test_empty_body_is_a_400_not_a_hang(stack):
    await stack.start_gateway()
    status, _, payload = await post(stack, None, raw=b"")
    assert status == 400 and payload["error"]["type"] == "validation_error"
