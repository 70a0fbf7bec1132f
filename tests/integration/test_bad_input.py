"""Bad input is a 4xx in the route's envelope, naming the parameter, never a 500: the shapes
that used to crash the gateway or slip through, sent over a real socket."""
from __future__ import annotations

import json

import pytest

from ops.simulator.state import CHAT_PATH

CHAT, RESPONSES, MESSAGES, COUNT = ("/v1/chat/completions", "/v1/responses", "/v1/messages",
                                    "/v1/messages/count_tokens")
MODEL = "grok-4.20-fast"
KEY = "adm-key-123"


def chat(**extra):
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}


def responses(**extra):
    return {"model": MODEL, "input": "hi", **extra}


def messages(**extra):
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
            **extra}


def deep(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


async def send(stack, path, body=None, *, raw: bytes | None = None,
               content_type: str = "application/json"):
    async with stack.http() as http:
        data = raw if raw is not None else json.dumps(body).encode()
        async with http.post(path, data=data, headers={"content-type": content_type}) as resp:
            return resp.status, await resp.json()


def error_of(path: str, payload: dict) -> dict:
    if path.startswith("/v1/messages"):
        assert payload["type"] == "error"  # Anthropic's envelope
    return payload["error"]


BAD = [
    # an object or a list where a string belongs used to be a 500 (unhashable in a set test)
    (CHAT, chat(messages=[{"role": {"a": 1}, "content": "x"}]), "messages.0.role"),
    (CHAT, chat(messages=[{"role": ["user"], "content": "x"}]), "messages.0.role"),
    (CHAT, chat(reasoning_effort={"level": "high"}), "reasoning_effort"),
    (CHAT, chat(reasoning_effort=["high"]), "reasoning_effort"),
    (RESPONSES, responses(input=[{"role": {"a": 1}, "content": "x"}]), "input.0.role"),
    (RESPONSES, responses(reasoning={"effort": ["high"]}), "reasoning.effort"),
    (MESSAGES, messages(messages=[{"role": ["user"], "content": "x"}]), "messages.0.role"),
    # a tool schema nested 250 levels deep used to crash the JSON encoder
    (CHAT, chat(tools=[{"type": "function", "function": {"name": "f", "parameters": deep(250)}}]),
     "tools.0.function.parameters"),
    (RESPONSES, responses(tools=[{"type": "function", "name": "f", "parameters": deep(250)}]),
     "tools.0"),
    (MESSAGES, messages(tools=[{"name": "f", "input_schema": deep(250)}]), "tools.0.input_schema"),
    (COUNT, messages(tools=[{"name": "f", "input_schema": deep(250)}]), "tools.0.input_schema"),
    # numbers out of range used to be accepted and ignored
    (CHAT, chat(max_tokens=-5), "max_tokens"),
    (CHAT, chat(max_tokens=1e20), "max_tokens"),
    (CHAT, chat(max_tokens=10**20), "max_tokens"),
    (CHAT, chat(n=1000), "n"),
    (CHAT, chat(max_completion_tokens=0), "max_completion_tokens"),
    (RESPONSES, responses(max_output_tokens=-1), "max_output_tokens"),
    (MESSAGES, messages(max_tokens=-5), "max_tokens"),
    (MESSAGES, messages(top_k=-1), "top_k"),
    # an integer no JSON encoder can write back, inside a tool-call argument object
    (MESSAGES, messages(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"n": 10**30}}]}]),
     "messages.1.content.0.input"),
]


@pytest.mark.parametrize("path,body,param", BAD)
async def test_bad_fields_are_400s_naming_the_parameter(stack, path, body, param):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    status, payload = await send(stack, path, body)
    err = error_of(path, payload)
    assert status == 400 and err["param"] == param, payload
    assert param in err["message"]
    assert stack.sim.state.requests_to(CHAT_PATH) == []


@pytest.mark.parametrize("path", [CHAT, RESPONSES, MESSAGES, COUNT])
async def test_a_body_nested_thousands_deep_is_a_400(stack, path):
    await stack.start_gateway()
    raw = b'{"model":"m","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, payload = await send(stack, path, raw=raw)
    assert status == 400 and error_of(path, payload)["type"] == "validation_error"


@pytest.mark.parametrize("path,body", [(CHAT, chat()), (RESPONSES, responses()),
                                       (MESSAGES, messages()), (COUNT, messages())])
async def test_json_routes_require_a_json_content_type(stack, path, body):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, payload = await send(stack, path, body, content_type=content_type)
        err = error_of(path, payload)
        assert (status, err["code"]) == (415, "unsupported_media_type")
        assert "application/json" in err["message"]
    # what the SDKs send, with or without a charset
    status, _ = await send(stack, path, body, content_type="application/json; charset=utf-8")
    assert status == 200


async def test_the_content_type_is_checked_after_the_api_key(stack):
    await stack.start_gateway(GROK_APP_API_KEY="k1")
    status, payload = await send(stack, CHAT, chat(), content_type="text/plain")
    assert status == 401 and payload["error"]["code"] == "missing_api_key"


async def test_a_fetch_error_never_shows_url_credentials(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    url = "http://alice:s3cret-pw@127.0.0.1:9/cat.png?X-Signature=topsecret"
    status, payload = await send(stack, CHAT, chat(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}}]}]))
    assert status == 400 and payload["error"]["code"] == "invalid_image_url"
    text = str(payload)
    assert "127.0.0.1:9/cat.png" in text
    assert "alice" not in text and "s3cret" not in text and "topsecret" not in text


async def test_admin_bad_input_is_a_400_never_a_500(stack):
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    async with stack.http(headers=auth) as http:
        async with http.get("/admin/api/tokens?page=99999999999999999999") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "page"
        async with http.get("/admin/api/tokens?page_size=0") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "page_size"
        async with http.post("/admin/api/tokens/disabled", json={"token": ["x"],
                                                                 "disabled": True}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "token"
        async with http.put("/admin/api/tokens/edit", json={"old_token": "a" * 40,
                                                            "note": {"x": 1}}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "note"
        async with http.post("/admin/api/tokens/add", data=b'{"tokens": ["x"]}',
                             headers={"content-type": "text/plain"}) as resp:
            assert resp.status == 415
