"""Managed client keys over real sockets: the gateway on Hypercorn, the simulator as grok.com,
the official OpenAI and Anthropic SDKs as clients, aiohttp as the operator."""
from __future__ import annotations

import asyncio
import logging
import time

import anthropic
import openai
import pytest

from tests.integration.conftest import Stack

ADMIN = "adm-keys-secret-123"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
MODEL = "grok-4.20-fast"
HEAVY_MODEL = "grok-4.20-multi-agent-0309"
SUPER, BASIC, HEAVY, TAGGED = "tok-super-0001", "tok-basic-0002", "tok-heavy-0003", "tok-tagged-0004"


async def start(stack: Stack, **env: str) -> None:
    await stack.start_gateway(GROK_APP_APP_KEY=ADMIN, **env)
    stack.add_account(SUPER, "super")
    stack.add_account(BASIC, "basic")


async def admin(stack: Stack, method: str, path: str, **kw) -> tuple[int, dict]:
    async with stack.http(headers=AUTH) as http:
        async with http.request(method, "/admin/api" + path, **kw) as resp:
            return resp.status, await resp.json()


async def new_key(stack: Stack, **fields) -> dict:
    status, body = await admin(stack, "POST", "/keys", json=fields)
    assert status == 200, body
    return body["data"]


def anthropic_client(stack: Stack, key: str) -> anthropic.AsyncAnthropic:
    client = anthropic.AsyncAnthropic(base_url=stack.url, api_key=key, max_retries=0)
    stack.clients.append(client)
    return client


async def chat(stack: Stack, key: str, content: str = "hi", model: str = MODEL) -> str:
    answer = await stack.openai(key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}])
    return answer.choices[0].message.content


async def refused_openai(stack: Stack, key: str, model: str = MODEL) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        await chat(stack, key, model=model)
    return info.value


async def refused_anthropic(stack: Stack, key: str, model: str = MODEL) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as info:
        await anthropic_client(stack, key).messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    return info.value


def assert_limit(err, code: str, *, anthropic_shape: bool, max_wait: float) -> None:
    """A 429 rate_limit_error in the dialect's own envelope, its code naming the limit, with
    a Retry-After."""
    assert err.status_code == 429
    body = err.response.json()
    if anthropic_shape:
        assert body["type"] == "error"
    detail = body["error"]
    assert detail["type"] == "rate_limit_error" and detail["code"] == code, body
    assert detail["status"] == 429
    wait = int(err.response.headers["retry-after"])
    assert 1 <= wait <= max_wait


async def test_each_limit_is_a_429_naming_it_in_both_dialects_and_touches_no_account(stack):
    await start(stack)
    rpm = (await new_key(stack, name="rpm", rpm=2))["key"]
    chat_quota = (await new_key(stack, name="daily", limits={"chat_per_day": 1}))["key"]
    tokens = (await new_key(stack, name="tokens", limits={"tokens_per_day": 5}))["key"]
    for key in (rpm, chat_quota, tokens):
        assert await chat(stack, key)
    assert await chat(stack, rpm)  # the second of two per minute
    sent = len(stack.chat_attempts())
    cases = [(rpm, "rpm_exceeded", 120),  # a sliding minute: this one still weighs in the next
             (chat_quota, "daily_quota_exceeded", 86_400),
             (tokens, "token_quota_exceeded", 86_400)]
    for key, code, max_wait in cases:
        assert_limit(await refused_openai(stack, key), code, anthropic_shape=False,
                     max_wait=max_wait)
        assert_limit(await refused_anthropic(stack, key), code, anthropic_shape=True,
                     max_wait=max_wait)
    assert len(stack.chat_attempts()) == sent  # refused before any account was leased
    # an unlimited key of app.api_key is not counted, nor is a key without limits
    free = (await new_key(stack, name="free"))["key"]
    for _ in range(4):
        assert await chat(stack, free)


async def test_concurrency_limit_holds_while_a_request_is_open(stack):
    await start(stack)
    key = (await new_key(stack, name="one-at-a-time", max_concurrency=1))["key"]
    slow = asyncio.create_task(chat(stack, key, "[[sim tokens=4 delay_ms=400]]"))
    await asyncio.sleep(0.4)  # the first request is under way upstream
    sent = len(stack.chat_attempts())
    assert_limit(await refused_openai(stack, key), "concurrency_exceeded",
                 anthropic_shape=False, max_wait=5)
    assert_limit(await refused_anthropic(stack, key), "concurrency_exceeded",
                 anthropic_shape=True, max_wait=5)
    assert len(stack.chat_attempts()) == sent
    assert await slow
    assert await chat(stack, key)  # the slot is free again once it ended


async def test_daily_quotas_per_kind(stack):
    await start(stack)
    stack.add_account(HEAVY, "heavy")
    heavy = (await new_key(stack, name="heavy", limits={"heavy_per_day": 1,
                                                        "chat_per_day": 5}))["key"]
    assert await chat(stack, heavy, model=HEAVY_MODEL)
    err = await refused_openai(stack, heavy, model=HEAVY_MODEL)
    assert_limit(err, "daily_quota_exceeded", anthropic_shape=False, max_wait=86_400)
    assert "heavy" in err.response.json()["error"]["message"]
    assert await chat(stack, heavy)  # a plain chat still has quota
    images = (await new_key(stack, name="images", limits={"image_per_day": 1}))["key"]
    with pytest.raises(openai.RateLimitError) as info:  # two images asked, one allowed
        await stack.openai(images).images.generate(model="grok-imagine-image", prompt="a cat",
                                                   n=2)
    assert info.value.response.json()["error"]["code"] == "daily_quota_exceeded"
    status, body = await admin(stack, "GET", "/keys")
    views = {k["name"]: k for k in body["data"]}
    assert views["heavy"]["usage_today"]["heavy_used"] == 1
    assert views["heavy"]["usage_today"]["chat_used"] == 2
    assert views["heavy"]["remaining_today"] == {"chat": 3, "heavy": 0, "image": None,
                                                 "video": None, "tokens": None}
    assert views["images"]["usage_today"]["image_used"] == 0  # refused: nothing charged


async def test_a_failed_request_gives_its_daily_quota_back(stack):
    await start(stack)
    key = (await new_key(stack, name="refund", limits={"chat_per_day": 1}))["key"]
    stack.sim.state.add_token("tok-only-one", tier="super")
    with pytest.raises(openai.APIStatusError):
        await chat(stack, key, "[[sim fault=500]]")
    assert await chat(stack, key)  # the failed one did not use the day's one chat


async def test_scoped_keys_are_only_served_by_their_accounts(stack):
    await start(stack)
    stack.add_account(TAGGED, "basic")
    stack.gateway.pool.update_tags(TAGGED, add=["team-a"])
    by_pool = (await new_key(stack, name="super-only", scope={"pools": ["super"]}))["key"]
    by_tag = (await new_key(stack, name="team-a", scope={"tags": ["team-a"]}))["key"]
    for key, account in ((by_pool, SUPER), (by_tag, TAGGED)):
        before = len(stack.chat_tokens())
        for _ in range(6):
            assert await chat(stack, key)
        assert set(stack.chat_tokens()[before:]) == {account}
    # a model whose pools the scope leaves out: no account, never another one
    basic_only = (await new_key(stack, name="basic-only", scope={"pools": ["basic"]}))["key"]
    before = len(stack.chat_tokens())
    err = await refused_openai(stack, basic_only, model="grok-4.20-auto")
    assert err.status_code == 429 and err.response.json()["error"]["code"] == "rate_limit_exceeded"
    # the tagged account busy with something else is not replaced by an untagged one
    stack.gateway.pool.disable(TAGGED)
    err = await refused_openai(stack, by_tag)
    assert err.status_code == 429
    assert len(stack.chat_tokens()) == before


async def test_allow_list_in_model_listing_and_requests(stack):
    await start(stack)
    key = (await new_key(stack, name="fast-only", models=[MODEL]))["key"]
    client = stack.openai(key)
    listed = [m.id async for m in client.models.list()]
    assert listed == [MODEL]
    assert (await client.models.retrieve(MODEL)).id == MODEL
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("grok-4.20-auto")
    sent = len(stack.chat_attempts())
    for model in ("grok-4.20-auto", "no-such-model"):  # the same answer: nothing learnt
        err = await refused_openai(stack, key, model=model)
        assert err.status_code == 404
        detail = err.response.json()["error"]
        assert detail["code"] == "model_not_found" and detail["param"] == "model"
        err = await refused_anthropic(stack, key, model=model)
        assert err.status_code == 404 and err.response.json()["type"] == "error"
    assert len(stack.chat_attempts()) == sent
    assert await chat(stack, key)
    # an unrestricted key sees every model
    everything = (await new_key(stack, name="all"))["key"]
    assert len([m async for m in stack.openai(everything).models.list()]) > 1


async def test_expired_disabled_and_deleted_keys_are_401(stack):
    await start(stack)
    expired = await new_key(stack, name="old", expires_at=int(time.time()) - 5)
    err = await refused_openai(stack, expired["key"])
    assert err.status_code == 401
    assert err.response.json()["error"]["code"] == "expired_api_key"
    live = await new_key(stack, name="live", expires_at=int(time.time()) + 3600)
    assert await chat(stack, live["key"])
    assert (await admin(stack, "POST", "/keys/update",
                        json={"id": live["id"], "is_active": False}))[0] == 200
    err = await refused_anthropic(stack, live["key"])
    assert err.status_code == 401 and err.response.json()["error"]["type"] == "authentication_error"
    assert (await admin(stack, "POST", "/keys/update",
                        json={"key": live["key"], "is_active": True}))[0] == 200
    assert await chat(stack, live["key"])
    assert (await admin(stack, "POST", "/keys/delete", json={"key": live["key"]}))[0] == 200
    assert (await refused_openai(stack, live["key"])).status_code == 401
    # no key at all while managed keys exist: not open any more
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
                "model": MODEL, "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "missing_api_key"


async def test_app_api_key_stays_unlimited_beside_managed_keys(stack):
    await start(stack, GROK_APP_API_KEY="sk-app-wide-key-000111")
    await new_key(stack, name="limited", rpm=1)
    for _ in range(3):
        assert await chat(stack, "sk-app-wide-key-000111")


async def test_admin_keys_crud_and_bad_input(stack):
    await start(stack)
    value = "sk-chosen-by-operator-0123456789"
    status, body = await admin(stack, "POST", "/keys", json={
        "name": "team", "key": value, "limits": {"chat_per_day": 10, "image_per_day": -1,
                                                "tokens_per_day": None},
        "models": [MODEL], "rpm": 30, "max_concurrency": 2, "scope": {"tags": ["team-a"]},
        "nsfw": False})
    assert status == 200, body
    created = body["data"]
    assert created["key"] == value and created["display_key"] == "sk-cho...6789"
    assert created["limits"]["chat_per_day"] == 10 and created["limits"]["image_per_day"] is None
    assert created["chat_limit"] == 10 and created["image_limit"] == -1
    assert created["scope"] == {"pools": [], "tags": ["team-a"]} and created["nsfw"] is False
    # the value is never listed again
    status, body = await admin(stack, "GET", "/keys")
    assert status == 200 and value not in str(body)
    [listed] = body["data"]
    assert listed["id"] == created["id"] and listed["remaining_today"]["chat"] == 10
    assert listed["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    # duplicate value
    status, body = await admin(stack, "POST", "/keys", json={"key": value})
    assert status == 400 and body["error"]["code"] == "duplicate_key"
    # update by value, then by id
    status, body = await admin(stack, "POST", "/keys/update",
                               json={"key": value, "rpm": -1, "limits": {"chat_per_day": 3}})
    assert status == 200 and body["data"]["rpm"] is None
    assert body["data"]["limits"]["chat_per_day"] == 3
    status, body = await admin(stack, "POST", "/keys/update",
                               json={"id": created["id"], "name": "renamed"})
    assert status == 200 and body["data"]["name"] == "renamed"
    assert body["data"]["limits"]["chat_per_day"] == 3  # what was not sent stays
    # bad input names the field
    for fields, param in (({"limits": {"chat_per_day": "lots"}}, "limits.chat_per_day"),
                          ({"rpm": 1.5}, "rpm"),
                          ({"scope": {"pools": ["gold"]}}, "scope.pools[0]"),
                          ({"models": [MODEL, "no-such-model"]}, "models[1]"),
                          ({"is_active": "yes"}, "is_active"),
                          ({"key": "short"}, "key")):
        status, body = await admin(stack, "POST", "/keys", json=fields)
        assert status == 400, (fields, body)
        assert body["error"]["param"] == param, (fields, body)
    status, body = await admin(stack, "POST", "/keys/update", json={"rpm": 3})
    assert status == 400 and body["error"]["param"] == "key"
    for path in ("/keys/update", "/keys/delete"):
        status, body = await admin(stack, "POST", path, json={"key": "sk-never-created-000000"})
        assert status == 404 and body["error"]["code"] == "key_not_found"
    # batch create and batch disable
    status, body = await admin(stack, "POST", "/keys/batch",
                               json={"count": 3, "name_prefix": "bot", "rpm": 5})
    assert status == 200 and [k["name"] for k in body["data"]] == ["bot-1", "bot-2", "bot-3"]
    made = body["data"]
    assert len({k["key"] for k in made}) == 3 and all(k["rpm"] == 5 for k in made)
    assert await chat(stack, made[0]["key"])
    status, body = await admin(stack, "POST", "/keys/batch-status", json={
        "keys": [made[0]["key"], made[1]["id"], "sk-unknown-key-0000"], "is_active": False})
    assert status == 404 and body["error"]["param"] == "keys[2]"
    status, body = await admin(stack, "POST", "/keys/batch-status", json={
        "keys": [made[0]["key"], made[1]["id"]], "is_active": False})
    assert status == 200 and body["updated"] == 2
    for key in made[:2]:
        assert (await refused_openai(stack, key["key"])).status_code == 401
    assert await chat(stack, made[2]["key"])
    status, body = await admin(stack, "POST", "/keys/delete", json={"id": created["id"]})
    assert status == 200
    status, body = await admin(stack, "GET", "/keys")
    assert created["id"] not in [k["id"] for k in body["data"]]
    # the admin secret guards it all
    async with stack.http() as http:
        async with http.get("/admin/api/keys") as resp:
            assert resp.status == 401


async def test_no_key_value_reaches_the_log(stack, caplog):
    caplog.set_level(logging.DEBUG)
    await start(stack)
    used = [(await new_key(stack, name=f"log-{i}", rpm=1))["key"] for i in range(2)]
    for key in used:
        assert await chat(stack, key)
        await refused_openai(stack, key)  # over its rpm
        await refused_anthropic(stack, key + "x")  # an unknown key
    text = caplog.text
    assert text  # the gateway did log these requests
    for key in used:
        assert key not in text


async def test_a_key_without_nsfw_gets_no_r_rated_images_even_from_an_nsfw_account(stack):
    await stack.start_gateway(GROK_APP_APP_KEY=ADMIN)
    stack.sim.state.add_token("tok-nsfw", tier="super").nsfw = True
    stack.gateway.pool.add("tok-nsfw", pool="super", tags=["nsfw"])
    prompt = "beach [[sim rrated=0]]"
    for nsfw, images, withheld in ((False, 1, 1), (True, 2, None)):
        key = (await new_key(stack, name=f"nsfw-{nsfw}", nsfw=nsfw))["key"]
        got = await stack.openai(key).images.generate(model="grok-imagine-image", prompt=prompt,
                                                      n=2, response_format="b64_json")
        assert len(got.data) == images and got.model_extra.get("moderated") == withheld
        frame = stack.sim.state.imagine_sessions[-1].frames[-1]
        assert frame["item"]["content"][0]["properties"]["enable_nsfw"] is nsfw
