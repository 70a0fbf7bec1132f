"""The ASGI fast path and the route handlers.

The fast path is called directly as an ASGI app (scope, receive and send built here) in
front of the real chat route on a mock upstream, so a test controls exactly when the client
sends, reads and leaves. The Quart routes (models, health, version) and count_tokens run on
the integration stack: the simulator and the gateway on real sockets."""
from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from types import SimpleNamespace

import orjson
import pytest

from addons import build_chain
from addons.events import End, TextDelta
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.services.media_cache import MediaCache
from addons.services.media_output import MediaOutput
from addons.upstream.mock import MockResponse, MockTransport
from quart_app import routes_anthropic, routes_responses, routes_v1
from quart_app.fastpath import FastPath
from quart_app.http_policy import HttpPolicy
from state.pool import AccountPool
from state.settings import Settings
# the integration stack (simulator + gateway on loopback ports), reused as fixtures here
from tests.integration.conftest import chat_transport, stack  # noqa: F401

HOT = {**routes_v1.ROUTES, **routes_responses.ROUTES, **routes_anthropic.ROUTES}
CHAT = orjson.dumps({"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "hi"}]})


# ---- the fast path as an ASGI app ------------------------------------------------------

class Wrapped:
    """The app behind the fast path (Quart in production): records what reaches it."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"from quart"})


class Client:
    """One ASGI connection: the request body in `parts`, every message the app sends kept.

    After the body, `receive()` waits until `leave` is set and then reports a disconnect.
    With `stall_after_first_body`, the client stops reading once the first piece of a
    response body arrived (the app's next `send` never returns) and leaves."""

    def __init__(self, parts: list[bytes], stall_after_first_body: bool = False) -> None:
        self.parts = list(parts)
        self.stall = stall_after_first_body
        self.sent: list[dict] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict:
        if self.parts:
            body = self.parts.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(self.parts)}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        if self.stall and any(m["type"] == "http.response.body" and m.get("body")
                              for m in self.sent):
            self.leave.set()
            await asyncio.Future()  # a client that stopped reading: never returns
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def finished(self) -> bool:
        return any(m["type"] == "http.response.body" and not m.get("more_body", False)
                   for m in self.sent)


def scope(path: str = "/v1/chat/completions", method: str = "POST",
          headers: dict[str, str] | None = None) -> dict:
    hdrs = {"content-type": "application/json", **(headers or {})}
    return {"type": "http", "method": method, "path": path, "query_string": b"",
            "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]}


def fast_path(tmp_path, transport, *tokens: str, max_body: int = 1 << 20):
    settings = Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool="basic")
    catalogue = Catalogue(settings)
    chain = build_chain(settings=settings, pool=pool, catalogue=catalogue, ledger=None)
    services = SimpleNamespace(settings=settings, pool=pool, catalogue=catalogue,
                               pipeline=Pipeline(chain, transport, settings),
                               media_output=MediaOutput(MediaCache(tmp_path, settings), settings))
    wrapped = Wrapped()
    # the fast path as it is served: behind the HTTP policy, which reads the body
    stack = HttpPolicy(FastPath(wrapped, services=services, routes=HOT), max_body=max_body)
    return stack, pool, wrapped


async def finished(task: asyncio.Task, timeout: float = 3.0) -> None:
    """The request task ends on its own within `timeout` (it is not cancelled from here: a
    cancellation would look like the client's disconnect to the fast path)."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait({task})
        raise AssertionError("the fast path did not return")
    task.result()


async def call(app: FastPath, sc: dict, client: Client) -> None:
    # its own task, as a server runs each request: a disconnect cancels that task only
    await finished(asyncio.ensure_future(app(sc, client.receive, client.send)))


async def test_a_client_that_leaves_mid_stream_cancels_the_handler_and_frees_the_account(
        tmp_path):
    answer = MockResponse(200, [[TextDelta("one ")], [TextDelta("two ")], [TextDelta("three")],
                                [End()]])
    transport = MockTransport.script(answer)
    app, pool, _ = fast_path(tmp_path, transport, "a")
    stream = orjson.dumps({**orjson.loads(CHAT), "stream": True})
    client = Client([stream], stall_after_first_body=True)
    await call(app, scope(), client)
    assert client.status == 200 and client.body  # the stream had started
    assert not client.finished and b"[DONE]" not in client.body
    assert pool.count_inflight() == 0
    assert transport.streams[0].closed  # the upstream transfer was cancelled too
    assert pool.get("a").usage_use_count == 0  # an abandoned answer is no success


async def test_a_client_that_leaves_while_the_upstream_is_silent_frees_the_account(tmp_path):
    opened = asyncio.Event()

    async def silent(_request):
        opened.set()
        await asyncio.Future()  # the upstream never answers

    app, pool, _ = fast_path(tmp_path, MockTransport(silent), "a")
    client = Client([CHAT])
    task = asyncio.ensure_future(app(scope(), client.receive, client.send))
    await asyncio.wait_for(opened.wait(), 5)
    assert pool.count_inflight() == 1
    client.leave.set()
    await finished(task)
    assert client.sent == []  # nobody to answer
    assert pool.count_inflight() == 0


async def test_the_body_is_read_across_several_request_messages(tmp_path):
    transport = MockTransport.script(MockResponse.text("joined"))
    app, pool, _ = fast_path(tmp_path, transport, "a")
    parts = [CHAT[:10], CHAT[10:25], b"", CHAT[25:]]
    client = Client(parts)
    await call(app, scope(), client)
    assert client.status == 200
    body = orjson.loads(client.body)
    assert body["choices"][0]["message"]["content"] == "joined"
    assert pool.count_inflight() == 0


async def test_a_body_over_the_limit_is_413_before_any_account_is_leased(tmp_path):
    transport = MockTransport.script()
    app, pool, _ = fast_path(tmp_path, transport, "a", max_body=len(CHAT) - 1)
    client = Client([CHAT[:20], CHAT[20:]])
    await call(app, scope(), client)
    assert client.status == 413
    assert orjson.loads(client.body)["error"]["code"] == "request_too_large"
    assert transport.requests == [] and pool.count_inflight() == 0


@pytest.mark.parametrize("path, anthropic", [("/v1/chat/completions", False),
                                             ("/v1/responses", False),
                                             ("/v1/messages", True)])
async def test_an_empty_body_is_400_in_the_route_s_envelope(tmp_path, path, anthropic):
    transport = MockTransport.script()
    app, pool, _ = fast_path(tmp_path, transport, "a")
    client = Client([b""])
    await call(app, scope(path), client)
    assert client.status == 400
    body = orjson.loads(client.body)
    assert (body.get("type") == "error") is anthropic
    assert body["error"]["type"] == "validation_error"
    assert transport.requests == [] and pool.count_inflight() == 0


async def test_a_hot_route_answers_get_with_405_and_options_with_204(tmp_path):
    app, _, wrapped = fast_path(tmp_path, MockTransport.script(), "a")
    get = Client([b""])
    await call(app, scope(method="GET"), get)
    assert get.status == 405
    options = Client([b""])
    await call(app, scope(method="OPTIONS"), options)
    assert options.status == 204
    headers = dict(options.sent[0]["headers"])
    assert headers[b"access-control-allow-origin"] == b"*"
    assert wrapped.scopes == []


@pytest.mark.parametrize("sc", [scope("/v1/models", "GET"), scope("/health", "GET"),
                                scope("/admin/api/tokens", "POST"),
                                scope("/v1/chat/completions/extra"),
                                {"type": "lifespan"}])
async def test_other_paths_and_scopes_go_to_the_wrapped_app(tmp_path, sc):
    transport = MockTransport.script()
    app, _, wrapped = fast_path(tmp_path, transport, "a")
    client = Client([b""])
    await call(app, sc, client)
    assert wrapped.scopes == [sc]
    assert transport.requests == []
    if sc["type"] == "http":
        assert client.body == b"from quart"


# ---- the route handlers on the integration stack ---------------------------------------

async def get_json(stack, path: str, headers: dict[str, str] | None = None):
    async with stack.http() as http:
        async with http.get(path, headers=headers or {}) as resp:
            return resp.status, await resp.json()


async def model_ids(stack, headers=None) -> set[str]:
    status, body = await get_json(stack, "/v1/models", headers)
    assert status == 200 and body["object"] == "list"
    return {m["id"] for m in body["data"]}


async def test_models_lists_only_models_a_usable_account_can_serve(stack):
    await stack.start_gateway()
    assert await model_ids(stack) == set()  # no account: nothing to serve
    stack.add_account("tok-basic", "basic")
    basic = await model_ids(stack)
    assert {"grok-4.20-fast", "grok-4.3-fast", "grok-4.20-0309-non-reasoning"} <= basic
    assert not basic & {"grok-4.20-auto", "grok-4.20-expert", "grok-4.20-heavy"}
    assert not any(m.startswith("grok-imagine") for m in basic)  # not served by this build
    stack.add_account("tok-super", "super")
    both = await model_ids(stack)
    assert {"grok-4.20-auto", "grok-4.20-expert"} <= both and "grok-4.20-heavy" not in both
    stack.gateway.pool.disable("tok-super")
    assert await model_ids(stack) == basic


async def test_models_need_the_api_key_when_one_is_set(stack):
    await stack.start_gateway(GROK_APP_API_KEY="k")
    stack.add_account("tok-basic", "basic")
    for path in ("/v1/models", "/v1/models/grok-4.20-fast", "/v1/models/no-such-model"):
        status, body = await get_json(stack, path)
        assert (status, body["error"]["code"]) == (401, "missing_api_key"), path
        status, body = await get_json(stack, path, {"Authorization": "Bearer wrong"})
        assert (status, body["error"]["code"]) == (401, "invalid_api_key"), path
    assert "grok-4.20-fast" in await model_ids(stack, {"Authorization": "Bearer k"})
    assert "grok-4.20-fast" in await model_ids(stack, {"x-api-key": "k"})


async def test_one_model_by_id_and_404_for_an_unknown_one(stack):
    await stack.start_gateway()
    stack.add_account("tok-basic", "basic")
    status, body = await get_json(stack, "/v1/models/grok-4.20-fast")
    assert status == 200
    assert (body["id"], body["object"], body["owned_by"]) == ("grok-4.20-fast", "model", "xai")
    for missing in ("grok-9", "grok-4.20-heavy"):  # unknown; known but no account serves it
        status, body = await get_json(stack, f"/v1/models/{missing}")
        assert status == 404, missing
        assert (body["error"]["code"], body["error"]["param"]) == ("model_not_found", "model")


async def count_tokens(stack, payload: dict) -> tuple[int, dict]:
    async with stack.http() as http:
        async with http.post("/v1/messages/count_tokens", json=payload) as resp:
            return resp.status, await resp.json()


WEATHER = {"name": "get_weather", "description": "Current weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


async def test_count_tokens_leases_no_account_and_counts_the_tool_block(stack):
    await stack.start_gateway()
    ask = {"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "Weather?"}]}
    # no account at all: counting needs none
    status, plain = await count_tokens(stack, ask)
    assert status == 200 and plain["input_tokens"] > 0
    stack.add_account("tok-basic", "basic")
    status, tools = await count_tokens(stack, {**ask, "tools": [WEATHER]})
    assert status == 200 and tools["input_tokens"] > plain["input_tokens"] + 5
    acc = stack.gateway.pool.get("tok-basic")
    assert acc.usage_use_count == 0 and acc.last_use_at is None and acc.inflight == 0
    assert stack.chat_attempts() == []
    status, body = await count_tokens(stack, {**ask, "model": "grok-9"})
    assert status == 400 and body["type"] == "error"
    assert body["error"]["code"] == "model_not_found"


async def test_health_and_version_answer_without_a_key(stack):
    await stack.start_gateway(GROK_APP_API_KEY="k")
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "super")
    status, health = await get_json(stack, "/health")
    breaker = health.pop("breaker")
    assert (status, health) == (200, {"status": "ok", "accounts": 2, "inflight": 0, "queued": 0})
    assert (breaker["state"], breaker["reason"], breaker["trips"]) == ("closed", None, 0)
    status, ver = await get_json(stack, "/version")
    try:
        expected = version("grok2api")
    except PackageNotFoundError:  # pragma: no cover - not installed
        expected = "0.0.0"
    assert status == 200 and ver == {"version": expected}
