"""The request id a client can quote: every error body carries it beside the error, in each
dialect's envelope and in the in-stream error events, and it is the `X-Request-Id` header's
(the client's own when it sent a sane one)."""
from __future__ import annotations

import anthropic
import openai
import orjson
import pytest

from tests.integration.sse_client import read_sse

MODEL = "grok-4.20-fast"


async def test_openai_error_bodies_carry_the_request_id(stack):
    await stack.start_gateway(GROK_APP_API_KEY="sk-ids-key-0123456789")
    client = stack.openai(api_key="sk-wrong-key")
    with pytest.raises(openai.AuthenticationError) as exc:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    body = exc.value.response.json()
    assert body["request_id"] == exc.value.response.headers["x-request-id"] == exc.value.request_id
    assert body["error"]["code"] == "invalid_api_key"
    # a client's own sane id is the one in the body; the Responses route too
    good = stack.openai(api_key="sk-ids-key-0123456789",
                        default_headers={"X-Request-Id": "client-trace-42"})
    with pytest.raises(openai.BadRequestError) as exc:
        await good.responses.create(model="no-such-model", input="hi")
    assert exc.value.response.json()["request_id"] == "client-trace-42"


async def test_anthropic_error_bodies_carry_the_request_id(stack):
    await stack.start_gateway()  # no account: the request is refused before any stream
    client = anthropic.AsyncAnthropic(base_url=stack.url, api_key="unused", max_retries=0)
    try:
        with pytest.raises(anthropic.RateLimitError) as exc:
            await client.messages.create(model=MODEL, max_tokens=10, stream=True,
                                         messages=[{"role": "user", "content": "hi"}])
    finally:
        await client.close()
    body = exc.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["request_id"] == exc.value.response.headers["x-request-id"]


async def _stream_error(stack, path: str, payload: dict) -> tuple[str, dict]:
    async with stack.http() as http:
        async with http.post(path, json=payload) as resp:
            assert resp.status == 200
            rid = resp.headers["X-Request-Id"]
            frames = await read_sse(resp)
    errors = [orjson.loads(p) for kind, p in frames if kind == "error"]
    assert len(errors) == 1, frames
    return rid, errors[0]


async def test_in_stream_errors_carry_the_request_id_in_each_dialect(stack):
    await stack.start_gateway()
    stack.add_account("tok-ids", "basic")
    content = "[[sim tokens=8 fault=inband_mid]]"  # fails after the first text went out
    rid, chat = await _stream_error(stack, "/v1/chat/completions", {
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": content}]})
    assert chat["request_id"] == rid and chat["error"]["type"] == "upstream_error"
    rid, msg = await _stream_error(stack, "/v1/messages", {
        "model": MODEL, "stream": True, "max_tokens": 50,
        "messages": [{"role": "user", "content": content}]})
    assert msg["type"] == "error" and msg["request_id"] == rid and msg["error"]["message"]
    rid, resp = await _stream_error(stack, "/v1/responses", {
        "model": MODEL, "stream": True, "input": content})
    assert resp["type"] == "error" and resp["request_id"] == rid and resp["message"]
