"""The admin API over real sockets: the gateway on Hypercorn, the simulator as grok.com,
aiohttp as the operator's browser."""
from __future__ import annotations

import asyncio
import json

import pytest

from ops.simulator.state import RATE_LIMITS_PATH
from tests.integration.sse_client import read_sse

KEY = "adm-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOKENS = [f"eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjoi{i}.sig-{i}-0123456789abcdef" for i in range(4)]
A, B, C, D = TOKENS


async def start(stack, *tiers: str):
    """The gateway with the admin key set; TOKENS[i] known to the simulator as tiers[i]."""
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    for token, tier in zip(TOKENS, tiers):
        stack.sim.state.add_token(token, tier=tier)
    return stack.http(headers=AUTH)


async def call(http, method: str, path: str, **kw):
    async with http.request(method, "/admin/api" + path, **kw) as resp:
        return resp.status, await resp.json()


async def eventually(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def assert_masked(payload) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    assert not any(t in text for t in TOKENS), text


async def test_admin_auth(stack):
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    async with stack.http() as http:
        assert await call(http, "GET", "/verify", headers=AUTH) == (200, {"status": "success"})
        assert (await call(http, "GET", f"/verify?app_key={KEY}"))[0] == 200
        status, body = await call(http, "GET", "/tokens")
        assert status == 401 and body["error"]["code"] == "missing_api_key"
        status, body = await call(http, "GET", "/tokens",
                                  headers={"Authorization": "Bearer wrong"})
        assert status == 401 and body["error"]["type"] == "authentication_error"
        assert (await call(http, "GET", "/verify?app_key=wrong"))[0] == 401
    stack.env["GROK_APP_APP_KEY"] = ""  # empty: the admin API is locked, never open
    await stack.restart_gateway()
    async with stack.http() as http:
        for headers in ({}, AUTH, {"Authorization": "Bearer "}):
            status, body = await call(http, "GET", "/verify", headers=headers)
            assert status == 401 and body["error"]["code"] == "admin_locked"
        assert (await call(http, "GET", "/verify?app_key="))[0] == 401


async def test_no_other_origin_can_read_the_admin_api(stack):
    """A page on another origin gets no CORS grant from the admin API, preflight included,
    so the browser keeps every admin answer from it; the /v1 API keeps its CORS."""
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    origin = {"Origin": "https://evil.example"}
    preflight = {**origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}
    async with stack.http() as http:
        for method, path, headers in [
                ("GET", f"/admin/api/tokens?app_key={KEY}", origin),
                ("GET", "/admin/api/tokens", {**origin, **AUTH}),
                ("GET", "/admin/api/tokens", origin),
                ("OPTIONS", "/admin/api/tokens", preflight)]:
            async with http.request(method, path, headers=headers) as resp:
                granted = [h for h in resp.headers if h.lower().startswith("access-control-")]
                assert not granted, (method, path, dict(resp.headers))
        async with http.options("/v1/models", headers={
                **origin, "Access-Control-Request-Method": "GET"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_default_install_hands_out_no_tokens(stack):
    """With the shipped secret, the token table is refused; the setup call sets a new secret,
    which every later call then needs."""
    await stack.start_gateway()  # app.app_key left at its default
    stack.add_account(A)
    async with stack.http() as http:
        status, body = await call(http, "GET", "/tokens?app_key=grok2api")
        assert status == 403 and body["error"]["code"] == "admin_key_default"
        assert A not in json.dumps(body)
        default = {"Authorization": "Bearer grok2api"}
        status, body = await call(http, "GET", "/setup", headers=default)
        assert status == 200 and body["app_key_default"] is True
        status, body = await call(http, "POST", "/setup/app_key", headers=default,
                                  json={"app_key": "operator-chosen-secret"})
        assert status == 200 and body["app_key_default"] is False
        assert (await call(http, "GET", "/tokens?app_key=grok2api"))[0] == 401
        status, body = await call(http, "GET", "/tokens?app_key=operator-chosen-secret")
        assert status == 200 and [r["token"] for r in body["tokens"]] == [A]
    await stack.restart_gateway()  # saved in the config file
    async with stack.http() as http:
        assert (await call(http, "GET", "/verify?app_key=operator-chosen-secret"))[0] == 200


async def test_wrong_secrets_are_throttled_per_client(stack):
    """Behind a trusted proxy, X-Forwarded-For names the client: one client's wrong guesses
    lock it out while another client's right secret is answered at once."""
    await stack.start_gateway(GROK_APP_APP_KEY=KEY, GROK_SERVER_TRUSTED_PROXIES="127.0.0.1",
                              GROK_ADMIN__THROTTLE__FREE_FAILURES="2",
                              GROK_ADMIN__THROTTLE__LOCKOUT_FAILURES="3")
    attacker = {"X-Forwarded-For": "198.51.100.7"}
    async with stack.http() as http:
        codes = []
        for i in range(200):
            status, body = await call(http, "GET", f"/verify?app_key=guess-{i}", headers=attacker)
            codes.append(body["error"]["code"])
        assert codes[:2] == ["invalid_api_key"] * 2 and codes[2] == "invalid_api_key"
        assert set(codes[3:]) == {"admin_throttled"}
        # locked out: even the right secret is not looked at from there
        async with http.get(f"/admin/api/verify?app_key={KEY}", headers=attacker) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 800
        started = asyncio.get_running_loop().time()
        other = {"X-Forwarded-For": "192.0.2.44", **AUTH}
        assert await call(http, "GET", "/verify", headers=other) == (200, {"status": "success"})
        assert asyncio.get_running_loop().time() - started < 1.0
    # without trusted proxies the header is ignored: everyone here is 127.0.0.1
    stack.env["GROK_SERVER_TRUSTED_PROXIES"] = ""
    await stack.restart_gateway()
    async with stack.http() as http:
        for i in range(3):
            await call(http, "GET", f"/verify?app_key=guess-{i}",
                       headers={"X-Forwarded-For": f"203.0.113.{i}"})
        status, body = await call(http, "GET", "/verify", headers=AUTH)
        assert status == 429 and body["error"]["code"] == "admin_throttled"


async def test_operator_manages_the_table(stack):
    async with await start(stack, "super", "super", "super", "basic") as http:
        pool = stack.gateway.pool
        status, body = await call(http, "POST", "/tokens/add",
                                  json={"tokens": [A, B, C], "pool": "super"})
        assert (status, body["count"], body["skipped"], body["synced"]) == (200, 3, 0, False)
        await eventually(lambda: all(pool.get(t).last_sync_at for t in (A, B, C)))  # background
        status, body = await call(http, "POST", "/tokens/add", json={"tokens": [A, D]})
        assert (body["count"], body["skipped"], body["synced"]) == (1, 1, True)
        assert pool.get(D).pool == "basic" and pool.get(D).last_sync_at is not None

        status, body = await call(http, "GET", "/tokens?page=1&page_size=2")
        assert [r["token"] for r in body["tokens"]] == [A, B] and body["total"] == 4
        status, body = await call(http, "GET", "/tokens?pool=basic")
        assert [r["token"] for r in body["tokens"]] == [D]

        # disable takes effect at once: no chat goes to B while it is disabled
        status, body = await call(http, "POST", "/tokens/disabled",
                                  json={"token": B, "disabled": True})
        assert status == 200 and pool.get(B).status == "disabled"
        status, body = await call(http, "GET", "/tokens?status=invalid")
        assert [r["token"] for r in body["tokens"]] == [B]
        status, body = await call(http, "POST", "/tokens/disabled/batch",
                                  json={"tokens": [B], "disabled": False})
        assert body["summary"] == {"total": 1, "ok": 1, "fail": 0} and pool.get(B).status == "active"

        status, body = await call(http, "PUT", "/tokens/edit",
                                  json={"old_token": C, "pool": "basic"})
        assert (status, body["pool"]) == (200, "basic")
        status, body = await call(http, "POST", "/tokens", json={"super": [A, B]})
        assert status == 200 and body["count"] == 2 and body["removed"] == 0
        status, body = await call(http, "PUT", "/tokens/pool", json={"pool": "basic",
                                                                     "tokens": [D]})
        assert body == {"pool": "basic", "count": 1, "added": 0, "moved": 0, "removed": 1}
        assert pool.get(C).deleted_at is not None

        pool.disable(B)
        assert await call(http, "DELETE", "/tokens/invalid") == (200, {"deleted": 1})
        assert await call(http, "DELETE", "/tokens", json=[D]) == (200, {"deleted": 1})
        status, body = await call(http, "GET", "/tokens")
        assert [r["token"] for r in body["tokens"]] == [A]

        status, body = await call(http, "POST", "/sync")
        assert status == 200 and body["revision"] >= 1
        status, body = await call(http, "GET", "/status")
        assert body["size"] == 1 and body["revision"] >= 1

    # everything was saved: a restarted gateway shows the same table
    await stack.restart_gateway()
    async with stack.http(headers=AUTH) as http:
        status, body = await call(http, "GET", "/tokens?status=all")
        assert [r["token"] for r in body["tokens"]] == [A]
        status, body = await call(http, "GET", "/tokens?status=deleted")
        assert sorted(r["token"] for r in body["tokens"]) == sorted([B, C, D])


@pytest.mark.parametrize("method, path, payload, status_code, code", [
    ("POST", "/tokens/add", {"tokens": [""]}, 400, "invalid_value"),
    ("POST", "/tokens/add", {"tokens": [A + " " + B]}, 400, "invalid_value"),
    ("POST", "/tokens/add", {"tokens": ["t\u00f6k\u00e9n", 42]}, 400, "invalid_value"),
    ("POST", "/tokens/add", {"tokens": [A], "pool": "gold"}, 400, "unknown_pool"),
    ("POST", "/tokens", {"super": []}, 400, "empty_pool"),
    ("PUT", "/tokens/pool", {"pool": "super", "tokens": []}, 400, "empty_pool"),
    ("GET", "/tokens?page_size=5000", None, 400, "invalid_value"),
    ("PUT", "/tokens/edit", {"old_token": D, "pool": "super"}, 404, "account_not_found"),
    ("POST", "/tokens/disabled", {"token": D, "disabled": True}, 404, "account_not_found"),
    ("PUT", "/tokens/edit", {"old_token": A, "token": B}, 409, "token_conflict"),
    ("POST", "/batch/refresh", {"tokens": []}, 400, "invalid_value"),
])
async def test_bad_input_is_refused_and_changes_nothing(stack, method, path, payload,
                                                        status_code, code):
    async with await start(stack, "super", "super") as http:
        stack.gateway.pool.add(A, pool="super")
        stack.gateway.pool.add(B, pool="super")
        before = [(a.token, a.pool, a.status, a.deleted_at) for a in stack.gateway.pool.all()]
        status, body = await call(http, method, path, json=payload)
        assert status == status_code and body["error"]["code"] == code, body
        assert body["error"]["status"] == status_code and "message" in body["error"]
        after = [(a.token, a.pool, a.status, a.deleted_at) for a in stack.gateway.pool.all()]
        assert after == before


async def test_batch_refresh_async_with_sse_progress(stack):
    async with await start(stack, "super", "heavy", "basic") as http:
        for token in TOKENS[:3]:
            stack.gateway.pool.add(token, pool="basic")
        status, body = await call(http, "POST", "/batch/refresh?async=true&concurrency=2",
                                  json={"tokens": TOKENS[:3]})
        assert status == 200 and body["total"] == 3
        task_id = body["task_id"]
        # EventSource style: the key in the query, no header
        async with stack.http() as browser:
            async with browser.get(f"/admin/api/batch/{task_id}/stream?app_key={KEY}") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                assert resp.headers["Cache-Control"] == "no-cache"
                frames = await read_sse(resp)
        assert frames[0] == ("comment", "ping")
        assert_masked(str(frames))
        events = [json.loads(p) for kind, p in frames if kind == "data"]
        types = [e["type"] for e in events]
        assert types[0] == "snapshot" and types[-1] == "done"
        assert types.count("progress") + events[0]["processed"] == 3
        done = events[-1]
        assert done["result"]["summary"] == {"total": 3, "ok": 3, "fail": 0}
        assert len(done["result"]["results"]) == 3
        pools = {t: stack.gateway.pool.get(t).pool for t in TOKENS[:3]}
        assert pools == {A: "super", B: "heavy", C: "basic"}  # tiers settled by the probes
        # a reader arriving after the end gets the snapshot and the terminal event at once
        async with http.get(f"/admin/api/batch/{task_id}/stream") as resp:
            late = [json.loads(p) for kind, p in await read_sse(resp) if kind == "data"]
        assert [e["type"] for e in late] == ["snapshot", "done"]


async def test_batch_refresh_sync_result_is_masked(stack):
    async with await start(stack, "super") as http:
        stack.gateway.pool.add(A, pool="super")
        status, body = await call(http, "POST", "/batch/refresh", json={"tokens": [A, B]})
        assert status == 200 and body["summary"] == {"total": 2, "ok": 1, "fail": 1}
        assert_masked(body)


async def test_batch_refresh_cancel_ends_the_stream(stack):
    async with await start(stack, "super", "super", "super") as http:
        for token in TOKENS[:3]:
            stack.gateway.pool.add(token, pool="super")
        stack.sim.state.inject("slow_first_byte", path=RATE_LIMITS_PATH, times=100,
                               first_byte_ms=3000)
        status, body = await call(http, "POST", "/batch/refresh?async=true&concurrency=1",
                                  json={"tokens": TOKENS[:3]})
        task_id = body["task_id"]
        async with http.get(f"/admin/api/batch/{task_id}/stream") as resp:
            reader = asyncio.create_task(read_sse(resp))
            await asyncio.sleep(0.2)
            status, body = await call(http, "POST", f"/batch/{task_id}/cancel")
            assert status == 200 and body["status"] == "success"
            frames = await asyncio.wait_for(reader, 5)
        events = [json.loads(p) for kind, p in frames if kind == "data"]
        assert events[0]["type"] == "snapshot" and events[-1]["type"] == "cancelled"
        assert events[-1]["processed"] < 3
        assert_masked(str(frames))
        status, body = await call(http, "POST", f"/batch/{'0' * 32}/cancel")
        assert status == 404 and body["error"]["code"] == "task_not_found"


async def test_batch_nsfw_runs_the_sequence(stack):
    async with await start(stack, "super", "basic") as http:
        stack.gateway.pool.add(A, pool="super")
        stack.gateway.pool.add(B, pool="basic")
        status, body = await call(http, "POST", "/batch/nsfw", json={"tokens": [A, B, C]})
        assert status == 200 and body["summary"] == {"total": 3, "ok": 2, "fail": 1}, body
        assert_masked(body)
        assert stack.sim.state.tokens[A].nsfw and stack.sim.state.tokens[B].nsfw
        assert "nsfw" in stack.gateway.pool.get(A).tags
        status, body = await call(http, "POST", "/batch/nsfw?enabled=false&async=true",
                                  json={"tokens": [A]})
        async with http.get(f"/admin/api/batch/{body['task_id']}/stream") as resp:
            events = [json.loads(p) for kind, p in await read_sse(resp) if kind == "data"]
        assert events[-1]["type"] == "done" and events[-1]["ok"] == 1
        assert not stack.sim.state.tokens[A].nsfw and "nsfw" not in stack.gateway.pool.get(A).tags
