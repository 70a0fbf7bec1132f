"""The files accounts hold on grok.com, managed from the admin API over real sockets: the
gateway on Hypercorn, the simulator as grok.com (its asset list, delete and CDN), aiohttp as
the operator's browser."""
from __future__ import annotations

import json

import pytest

from ops.simulator.state import ASSET_DELETE_PREFIX, ASSETS_PATH
from quart_app.admin.views import mask_token
from tests.integration.sse_client import read_sse
from tests.integration.test_admin_api import AUTH, KEY, call

#: Tokens whose masks differ (first 8 ... last 8), so each account's row can be told apart.
TOKENS = [f"eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjoi{i}.sig-0123456789abcdef-{i:02d}tail{i}"
          for i in range(4)]
A, B, C, D = TOKENS


async def start(stack, *tiers: str):
    """The gateway with the admin key set; TOKENS[i] known to the simulator as tiers[i]."""
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    for token, tier in zip(TOKENS, tiers):
        stack.sim.state.add_token(token, tier=tier)
    return stack.http(headers=AUTH)


def assert_masked(payload) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    assert not any(t in text for t in TOKENS), text


def _arrange(stack, token: str, uploads: int = 0, generated: int = 0) -> list[str]:
    """Files the simulator's account holds: uploads, then generated images; their asset ids
    newest first (the listing's order)."""
    sim = stack.sim.state.tokens[token]
    ids = []
    for i in range(uploads):
        ids.append(stack.sim.state.add_file(sim, f"up-{i}.png", "image/png", b"p" * (10 + i)).file_id)
    for i in range(generated):
        path = f"users/{sim.user_id}/generated/g{i}-{token[-6:]}/image.jpg"
        ids.append(stack.sim.state.add_media(path, b"j" * (100 + i), "image/jpeg", sim=sim).asset_id)
    return ids[::-1]


def _held(stack, token: str) -> list[str]:
    return [getattr(a, "file_id", None) or a.asset_id
            for a in stack.sim.state.assets_of(stack.sim.state.tokens[token])]


async def test_every_manageable_account_is_listed_masked_and_a_dead_one_expires(stack):
    async with await start(stack, "super", "basic", "super") as http:
        for token in (A, B, C):
            stack.gateway.pool.add(token, pool="super")
        stack.gateway.pool.add(D, pool="super")
        stack.gateway.pool.delete(D)  # a deleted account is not managed
        a_ids = _arrange(stack, A, uploads=2, generated=1)
        b_ids = _arrange(stack, B)
        stack.sim.state.set_status(C, "expired")  # grok.com no longer knows the session
        # enough to need several pages of grok.com's listing
        many = _arrange(stack, A, generated=60)
        stack.sim.state.clear_requests()

        status, body = await call(http, "GET", "/assets")
        assert status == 200, body
        assert_masked(body)
        rows = {row["masked"]: row for row in body["tokens"]}
        assert set(rows) == {mask_token(A), mask_token(B), mask_token(C)}
        row_a = rows[mask_token(A)]
        assert row_a["token"] == mask_token(A) and row_a["error"] is None
        assert [a["id"] for a in row_a["assets"]] == many + a_ids and row_a["count"] == 63
        upload = row_a["assets"][-1]
        assert upload["name"] == "up-0.png" and upload["content_type"] == "image/png"
        assert upload["size"] == 10 and upload["file_path"].endswith(f"/{a_ids[-1]}/content")
        assert upload["created_at"].endswith("Z")
        assert rows[mask_token(B)]["count"] == 0 and b_ids == []
        row_c = rows[mask_token(C)]
        assert row_c["assets"] == [] and "invalid-credentials" in row_c["error"]
        assert body["total_assets"] == 63
        # the dead account is expired, exactly as a quota probe would have done
        acc = stack.gateway.pool.get(C)
        assert acc.status == "expired" and acc.state_reason == "invalid-credentials"
        listed = stack.sim.state.requests_to(ASSETS_PATH)
        assert {r.token for r in listed} == {A, B, C}
        assert len([r for r in listed if r.token == A]) == 2  # 63 assets, 50 a page
        assert all(r.headers["referer"] == "https://grok.com/files" for r in listed)
        # an expired account is no longer manageable: the next listing leaves it out
        status, body = await call(http, "GET", "/assets")
        assert {row["masked"] for row in body["tokens"]} == {mask_token(A), mask_token(B)}


async def test_delete_one_asset_then_clear_an_account(stack):
    async with await start(stack, "super", "super") as http:
        stack.gateway.pool.add(A, pool="super")
        stack.gateway.pool.add(B, pool="super")
        a_ids = _arrange(stack, A, uploads=1, generated=2)
        b_ids = _arrange(stack, B, uploads=1)
        owner = stack.sim.state.tokens[A]
        cdn_path = next(p for p, m in stack.sim.state.media.items()
                        if m.asset_id == a_ids[0] and "generated" in p)

        status, body = await call(http, "POST", "/assets/delete-item",
                                  json={"token": A, "asset_id": a_ids[0]})
        assert (status, body) == (200, {"status": "success"})
        assert _held(stack, A) == a_ids[1:]
        async with stack.http() as cdn:  # the CDN no longer serves it, even to its owner
            cookie = {"Cookie": f"sso={A}; sso-rw={A}"}
            async with cdn.get(f"{stack.sim.url}/{cdn_path}", headers=cookie) as resp:
                assert resp.status == 404
        assert owner.status == "active"

        status, body = await call(http, "POST", "/assets/delete-item",
                                  json={"token": A, "asset_id": a_ids[0]})
        assert status == 404 and body["error"]["code"] == "asset_not_found"
        # another account's asset is not this account's to delete
        status, body = await call(http, "POST", "/assets/delete-item",
                                  json={"token": A, "asset_id": b_ids[0]})
        assert status == 502 and _held(stack, B) == b_ids
        assert stack.gateway.pool.get(A).status == "active"  # a refusal is no dead account

        status, body = await call(http, "POST", "/assets/clear-token", json={"token": A})
        assert status == 200 and body == {"status": "success", "deleted": 2, "failed": 0}
        assert _held(stack, A) == [] and _held(stack, B) == b_ids
        deletes = [r for r in stack.sim.state.requests if r.method == "DELETE"]
        assert {r.path for r in deletes} >= {ASSET_DELETE_PREFIX + i for i in a_ids}
        assert all(r.headers["referer"] == "https://grok.com/files" for r in deletes)


async def test_an_expired_session_found_by_a_delete_expires_the_account(stack):
    async with await start(stack, "super") as http:
        stack.gateway.pool.add(A, pool="super")
        stack.sim.state.set_status(A, "blocked")
        status, body = await call(http, "POST", "/assets/delete-item",
                                  json={"token": A, "asset_id": "some-asset"})
        assert status == 502 and body["error"]["code"] == "invalid_credentials", body
        assert_masked(body)
        acc = stack.gateway.pool.get(A)
        assert acc.status == "expired" and acc.state_reason == "blocked-user"


@pytest.mark.parametrize("path, payload, status_code, code, param", [
    ("/assets/delete-item", {"token": A}, 400, "invalid_value", "asset_id"),
    ("/assets/delete-item", {"token": A, "asset_id": ""}, 400, "invalid_value", "asset_id"),
    ("/assets/delete-item", {"token": A, "asset_id": 5}, 400, "invalid_value", "asset_id"),
    ("/assets/delete-item", {"asset_id": "x"}, 400, "invalid_value", "token"),
    ("/assets/delete-item", {"token": "two tokens", "asset_id": "x"}, 400, "invalid_value",
     "token"),
    ("/assets/delete-item", {"token": D, "asset_id": "x"}, 404, "account_not_found", "token"),
    ("/assets/clear-token", {}, 400, "invalid_value", "token"),
    ("/assets/clear-token", {"token": D}, 404, "account_not_found", "token"),
    ("/assets/clear-token", ["not", "an", "object"], 400, "invalid_value", None),
    ("/batch/cache-clear", {"tokens": "nope"}, 400, "invalid_value", "tokens"),
    ("/batch/cache-clear?concurrency=0", {"tokens": [A]}, 400, "invalid_value", "concurrency"),
])
async def test_bad_input_is_refused_and_nothing_is_deleted(stack, path, payload, status_code,
                                                           code, param):
    async with await start(stack, "super") as http:
        stack.gateway.pool.add(A, pool="super")
        ids = _arrange(stack, A, uploads=1, generated=1)
        stack.sim.state.clear_requests()
        status, body = await call(http, "POST", path, json=payload)
        assert status == status_code and body["error"]["code"] == code, body
        assert body["error"]["param"] == param
        assert_masked(body)
        assert _held(stack, A) == ids
        assert not [r for r in stack.sim.state.requests if r.method == "DELETE"]


async def test_batch_clear_with_sse_progress(stack):
    async with await start(stack, "super", "super", "basic") as http:
        for token in TOKENS[:3]:
            stack.gateway.pool.add(token, pool="super")
        _arrange(stack, A, uploads=2, generated=3)
        _arrange(stack, B, generated=1)
        c_ids = _arrange(stack, C, uploads=1)
        stack.sim.state.set_status(C, "expired")
        status, body = await call(http, "POST", "/batch/cache-clear?async=true&concurrency=2",
                                  json={"tokens": []})  # empty: every manageable account
        assert status == 200 and body["status"] == "success" and body["total"] == 3
        async with stack.http() as browser:
            url = f"/admin/api/batch/{body['task_id']}/stream?app_key={KEY}"
            async with browser.get(url) as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                frames = await read_sse(resp)
        assert_masked(str(frames))
        events = [json.loads(p) for kind, p in frames if kind == "data"]
        assert events[0]["type"] == "snapshot" and events[-1]["type"] == "done"
        progress = [e for e in events if e["type"] == "progress"]
        assert len(progress) + events[0]["processed"] == 3
        done = events[-1]
        assert done["result"]["summary"] == {"total": 3, "ok": 2, "fail": 1}
        results = done["result"]["results"]
        assert results[mask_token(A)] == {"deleted": 5, "failed": 0}
        assert results[mask_token(B)] == {"deleted": 1, "failed": 0}
        assert results[mask_token(C)]["expired"] == "invalid-credentials"
        assert _held(stack, A) == [] and _held(stack, B) == [] and _held(stack, C) == c_ids
        assert stack.gateway.pool.get(C).status == "expired"

        # sync mode answers the same summary in the request
        _arrange(stack, A, generated=2)
        status, body = await call(http, "POST", "/batch/cache-clear", json={"tokens": [A, D]})
        assert status == 200 and body["summary"] == {"total": 2, "ok": 1, "fail": 1}
        assert body["results"][mask_token(A)]["deleted"] == 2
        assert body["results"][mask_token(D)] == {"error": "unknown account"}
        assert_masked(body)


async def test_an_outage_is_one_accounts_error_and_expires_nobody(stack):
    async with await start(stack, "super", "super") as http:
        stack.gateway.pool.add(A, pool="super")
        stack.gateway.pool.add(B, pool="super")
        b_ids = _arrange(stack, B, uploads=2)
        stack.sim.state.inject("500", path=ASSETS_PATH, token=A)
        stack.sim.state.inject("502", path=ASSET_DELETE_PREFIX, token=B)
        status, body = await call(http, "GET", "/assets")
        assert status == 200
        rows = {row["masked"]: row for row in body["tokens"]}
        assert "HTTP 500" in rows[mask_token(A)]["error"]
        assert rows[mask_token(B)]["error"] is None and rows[mask_token(B)]["count"] == 2
        # one delete fails: the other goes through, and the answer says so
        status, body = await call(http, "POST", "/assets/clear-token", json={"token": B})
        assert status == 200 and (body["deleted"], body["failed"]) == (1, 1), body
        assert len(_held(stack, B)) == 1 and set(_held(stack, B)) < set(b_ids)
        assert [stack.gateway.pool.get(t).status for t in (A, B)] == ["active", "active"]
