"""The account table. Operator changes apply at once and are saved urgently; bad input is a
400 in the error envelope and changes nothing."""
from __future__ import annotations

import asyncio
import time

import pytest

from state.account import SOURCE_REAL
from tests.quart_app.admin.conftest import TOK_A, TOK_B, TOK_C


def tokens_of(body) -> list[str]:
    return [row["token"] for row in body["tokens"]]


def snapshot(admin) -> list[tuple]:
    return [(a.token, a.pool, a.status, a.deleted_at, tuple(a.tags)) for a in admin.pool.all()]


async def test_list_everything_or_a_page(admin):
    for i in range(5):
        admin.pool.add(f"tok-{i:02d}-abcdefghijklmnop", "basic")
    status, body = await admin.call("GET", "/tokens")
    assert status == 200 and body["total"] == 5 and len(body["tokens"]) == 5
    assert "page" not in body and body["counts"]["total"] == 5
    status, body = await admin.call("GET", "/tokens?page=2&page_size=2")
    assert tokens_of(body) == ["tok-02-abcdefghijklmnop", "tok-03-abcdefghijklmnop"]
    assert (body["total"], body["page"], body["page_size"]) == (5, 2, 2)
    assert "revision" in body
    status, body = await admin.call("GET", "/tokens?page=9&page_size=2")
    assert status == 200 and body["tokens"] == []


async def test_list_filters(admin):
    admin.pool.add(TOK_A, "basic")
    admin.pool.add(TOK_B, "super", tags=["nsfw"])
    admin.pool.add(TOK_C, "heavy")
    admin.pool.disable(TOK_C)
    acc = admin.pool.get(TOK_A)
    acc.apply_quota("fast", 0, 30, 86400, acc.created_at)  # known and empty
    assert acc.quota["fast"].source == SOURCE_REAL

    async def listed(query: str) -> list[str]:
        status, body = await admin.call("GET", "/tokens?" + query)
        assert status == 200, body
        return tokens_of(body)

    assert await listed("pool=super") == [TOK_B]
    assert await listed("pool=ssoSuper") == [TOK_B]
    assert await listed("status=invalid") == [TOK_C]
    assert await listed("status=disabled") == [TOK_C]
    assert await listed("status=exhausted") == [TOK_A]
    assert await listed("status=active") == [TOK_B]
    assert await listed("status=all") == [TOK_A, TOK_B, TOK_C]
    assert await listed("tag=nsfw") == [TOK_B]
    assert await listed("nsfw=false") == [TOK_A, TOK_C]
    assert await listed("search=ACCOUNT-C") == [TOK_C]
    assert await listed("pool=heavy&status=invalid&page=1&page_size=1") == [TOK_C]


@pytest.mark.parametrize("query, param", [
    ("pool=gold", "pool"), ("status=sleeping", "status"), ("page_size=2001", "page_size"),
    ("page_size=0", "page_size"), ("page=0", "page"), ("page=x", "page"), ("nsfw=maybe", "nsfw"),
])
async def test_bad_list_queries_are_400(admin, query, param):
    status, body = await admin.call("GET", "/tokens?" + query)
    assert status == 400 and body["error"]["param"] == param
    assert body["error"]["type"] == "validation_error" and body["error"]["status"] == 400


async def test_add_skips_live_restores_deleted_and_saves_at_once(admin):
    admin.pool.add(TOK_A, "basic")
    admin.pool.add(TOK_B, "basic")
    admin.pool.delete(TOK_B)
    status, body = await admin.call("POST", "/tokens/add", json={
        "tokens": [TOK_A, f"sso={TOK_B}", TOK_C, TOK_C], "pool": "super", "tags": ["vip"]})
    assert status == 200
    assert body == {"status": "success", "count": 2, "skipped": 1, "synced": False,
                    "invalid": 0, "errors": []}
    assert admin.pool.get(TOK_A).pool == "basic"  # untouched
    assert admin.pool.get(TOK_B).deleted_at is None and admin.pool.get(TOK_C).pool == "super"
    stored = await admin.stored(TOK_C)
    assert stored.pool == "super" and stored.tags == ["vip"]


async def test_add_with_pool_auto_detects_the_tier_now(admin):
    status, body = await admin.call("POST", "/tokens/add", json={"tokens": [TOK_A]})
    assert status == 200 and body["synced"] is True and admin.refresher.calls == [TOK_A]
    assert admin.pool.get(TOK_A).pool == "basic"


@pytest.mark.parametrize("payload, param", [
    ({"tokens": []}, "tokens"),
    ({"tokens": [""]}, "tokens[0]"),
    ({"tokens": ["two tokens", "tök"]}, "tokens[0]"),  # no usable token at all
    ({"tokens": [TOK_A], "pool": "gold"}, "pool"),
    ({"tokens": [TOK_A], "tags": "nsfw"}, "tags"),
    ({"tokens": TOK_A}, "tokens"),
])
async def test_bad_adds_are_400_and_add_nothing(admin, payload, param):
    status, body = await admin.call("POST", "/tokens/add", json=payload)
    assert status == 400 and body["error"]["param"] == param, body
    assert admin.pool.all() == []


async def test_bodies_that_are_not_json_objects_are_400(admin):
    for data in (b"", b"{not json", b"[1,2]"):
        status, body = await admin.call("POST", "/tokens/add", data=data,
                                        headers={"Content-Type": "application/json"})
        assert status == 400 and body["error"]["type"] == "validation_error"


async def test_edit_renames_keeping_stats_and_moves_pool(admin):
    admin.pool.add(TOK_A, "basic", tags=["nsfw"])
    admin.pool.get(TOK_A).usage_use_count = 7
    new = TOK_A + "-renewed"
    status, body = await admin.call("PUT", "/tokens/edit", json={
        "old_token": TOK_A, "token": new, "pool": "super", "note": "renewed"})
    assert status == 200 and body == {"status": "success", "token": new, "pool": "super"}
    acc = admin.pool.get(new)
    assert acc.usage_use_count == 7 and acc.tags == ["nsfw"] and acc.note == "renewed"
    assert "expert" in acc.quota and admin.pool.get(TOK_A).deleted_at is not None
    stored = await admin.stored(new, check=lambda a: a.pool == "super")
    assert stored.usage_use_count == 7
    await admin.stored(TOK_A, check=lambda a: a.deleted_at is not None)
    status, body = await admin.call("PUT", "/tokens/edit", json={"old_token": new,
                                                                 "pool": "heavy"})
    assert status == 200 and admin.pool.get(new).pool == "heavy"


async def test_edit_errors(admin):
    admin.pool.add(TOK_A, "basic")
    admin.pool.add(TOK_B, "basic")
    before = snapshot(admin)
    status, body = await admin.call("PUT", "/tokens/edit", json={"old_token": TOK_C,
                                                                 "pool": "super"})
    assert status == 404 and body["error"]["code"] == "account_not_found"
    assert TOK_C not in body["error"]["message"]  # masked
    status, body = await admin.call("PUT", "/tokens/edit", json={"old_token": TOK_A,
                                                                 "token": TOK_B})
    assert status == 409 and body["error"]["code"] == "token_conflict"
    status, body = await admin.call("PUT", "/tokens/edit", json={"old_token": TOK_A,
                                                                 "pool": "gold"})
    assert status == 400 and body["error"]["param"] == "pool"
    status, body = await admin.call("PUT", "/tokens/edit", json={"old_token": TOK_A,
                                                                 "token": "a b"})
    assert status == 400 and body["error"]["param"] == "token"
    assert snapshot(admin) == before


async def test_delete_and_delete_invalid(admin):
    for tok in (TOK_A, TOK_B, TOK_C):
        admin.pool.add(tok, "basic")
    status, body = await admin.call("DELETE", "/tokens", json=[TOK_A])
    assert (status, body) == (200, {"deleted": 1})
    assert (await admin.call("DELETE", "/tokens", json={"tokens": [TOK_A]}))[1] == {"deleted": 0}
    await admin.stored(TOK_A, check=lambda a: a.deleted_at is not None)
    # unknown token: 404 and nothing deleted
    status, body = await admin.call("DELETE", "/tokens", json=[TOK_B, "unknown-token-xyz"])
    assert status == 404 and body["error"]["code"] == "account_not_found"
    assert admin.pool.get(TOK_B).deleted_at is None
    status, body = await admin.call("DELETE", "/tokens", json=[])
    assert status == 400
    admin.pool.disable(TOK_B)
    admin.pool.on_invalid_credentials(TOK_C, "token-expired")
    assert await admin.call("DELETE", "/tokens/invalid") == (200, {"deleted": 2})
    assert all(a.deleted_at is not None for a in admin.pool.all())


async def test_disable_and_restore(admin):
    admin.pool.add(TOK_A, "basic")
    admin.pool.get(TOK_A).consecutive_failures = 3
    status, body = await admin.call("POST", "/tokens/disabled",
                                    json={"token": TOK_A, "disabled": True})
    assert body == {"status": "success", "token": TOK_A, "disabled": True}
    acc = admin.pool.get(TOK_A)
    assert acc.status == "disabled" and acc.state_reason == "operator_disabled"
    assert admin.pool.select(["basic"], "fast") is None  # out of rotation at once, in this process
    await admin.stored(TOK_A, check=lambda a: a.status == "disabled")
    status, body = await admin.call("POST", "/tokens/disabled",
                                    json={"token": TOK_A, "disabled": False})
    assert status == 200 and acc.status == "active" and acc.consecutive_failures == 0
    await admin.stored(TOK_A, check=lambda a: a.status == "active")
    status, body = await admin.call("POST", "/tokens/disabled",
                                    json={"token": TOK_B, "disabled": True})
    assert status == 404 and body["error"]["code"] == "account_not_found"
    status, body = await admin.call("POST", "/tokens/disabled",
                                    json={"token": TOK_A, "disabled": "yes"})
    assert status == 400 and body["error"]["param"] == "disabled" and acc.status == "active"


async def test_disable_in_batch(admin):
    admin.pool.add(TOK_A, "basic")
    admin.pool.add(TOK_B, "super")
    status, body = await admin.call("POST", "/tokens/disabled/batch",
                                    json={"tokens": [TOK_A, TOK_B, TOK_C], "disabled": True})
    assert status == 200 and body["summary"] == {"total": 3, "ok": 2, "fail": 1}
    assert body["failed"] and TOK_C not in str(body)
    assert {admin.pool.get(t).status for t in (TOK_A, TOK_B)} == {"disabled"}
    status, body = await admin.call("POST", "/tokens/disabled/batch",
                                    json={"tokens": [TOK_A, TOK_B], "disabled": False})
    assert body["summary"]["ok"] == 2 and admin.pool.get(TOK_A).status == "active"
    status, _ = await admin.call("POST", "/tokens/disabled/batch",
                                 json={"tokens": [TOK_A, " "], "disabled": True})
    assert status == 400 and admin.pool.get(TOK_A).status == "active"


async def test_restore_after_a_429_puts_the_account_back_in_service(admin):
    """A 429 empties the mode it hit and cools the account; enabling it by hand must make it
    selectable again (its quota reopened as unknown, then re-read), not `active` but idle."""
    admin.pool.add(TOK_A, "basic")
    lease = admin.pool.select(["basic"], "fast")
    admin.pool.on_rate_limited(lease, time.time() + 3600)
    admin.pool.release(lease)
    assert admin.pool.select(["basic"], "fast") is None
    admin.refresher.enabled = True
    status, body = await admin.call("POST", "/tokens/disabled",
                                    json={"token": TOK_A, "disabled": False})
    assert status == 200
    lease = admin.pool.select(["basic"], "fast")
    assert lease is not None and lease.token == TOK_A
    admin.pool.release(lease)
    stored = await admin.stored(TOK_A, check=lambda a: a.status == "active")
    assert stored.quota["fast"].remaining > 0  # saved as reopened, for the other workers
    for _ in range(100):  # the real numbers are read again in the background
        if admin.refresher.calls:
            break
        await asyncio.sleep(0.01)
    assert admin.refresher.calls == [TOK_A]


async def test_pasted_tokens_are_cleaned_before_they_are_checked(admin):
    """What a Windows file, a cookie header or a quoted paste adds around a token goes."""
    status, body = await admin.call("POST", "/tokens/add", json={"tokens": [
        "\ufeff" + TOK_A + "\r",  # first line of a Windows file: BOM and CRLF
        f'"sso={TOK_B}"',  # quoted, with the cookie name
        f"\u200b{TOK_C}\u200d",  # zero-width spaces around it
    ], "pool": "basic"})
    assert status == 200, body
    assert body["count"] == 3 and body["invalid"] == 0 and body["errors"] == []
    assert sorted(a.token for a in admin.pool.all()) == sorted([TOK_A, TOK_B, TOK_C])


async def test_a_bad_item_does_not_cost_the_good_ones(admin):
    secret_typo = TOK_B[:20] + " " + TOK_B[20:]  # a broken paste: never echoed back
    status, body = await admin.call("POST", "/tokens/add", json={
        "tokens": [TOK_A, secret_typo, 42, "\ufeff" + TOK_C], "pool": "super"})
    assert status == 200
    assert body["status"] == "success" and body["count"] == 2 and body["skipped"] == 0
    assert body["invalid"] == 2
    assert [(e["index"], e["param"]) for e in body["errors"]] == [(1, "tokens[1]"),
                                                                   (2, "tokens[2]")]
    assert "whitespace" in body["errors"][0]["message"]
    assert TOK_B[:20] not in str(body) and TOK_B[20:] not in str(body)
    assert sorted(a.token for a in admin.pool.all()) == sorted([TOK_A, TOK_C])
    await admin.stored(TOK_C, check=lambda a: a.pool == "super")
