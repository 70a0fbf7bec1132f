"""Pool replacement by the admin API: the JSON import, destructive for the listed pools only."""
from __future__ import annotations

import pytest

from tests.quart_app.admin.conftest import TOK_A, TOK_B, TOK_C

TOK_D = TOK_C.replace("account-c", "account-d")


def live(admin, pool: str) -> list[str]:
    return [a.token for a in admin.pool.all() if a.pool == pool and a.deleted_at is None]


async def test_replace_listed_pools_exactly(admin):
    admin.pool.add(TOK_A, "basic", tags=["nsfw"])
    admin.pool.add(TOK_B, "basic")
    admin.pool.add(TOK_C, "heavy")  # heavy is not listed: untouched
    status, body = await admin.call("POST", "/tokens", json={
        "ssoBasic": [TOK_A, {"token": TOK_D, "tags": ["nsfw"]}], "super": [TOK_B]})
    assert status == 200, body
    assert body == {"status": "success", "count": 3, "added": 1, "moved": 1, "removed": 0}
    assert sorted(live(admin, "basic")) == sorted([TOK_A, TOK_D]) and live(admin, "super") == [TOK_B]
    assert live(admin, "heavy") == [TOK_C]
    assert admin.pool.get(TOK_A).tags == ["nsfw"] and admin.pool.get(TOK_D).tags == ["nsfw"]
    status, body = await admin.call("POST", "/tokens", json={"basic": [TOK_D]})
    assert body["removed"] == 1 and admin.pool.get(TOK_A).deleted_at is not None
    await admin.stored(TOK_A, check=lambda a: a.deleted_at is not None)


async def test_replace_one_pool(admin):
    admin.pool.add(TOK_A, "super")
    admin.pool.add(TOK_B, "super", tags=["nsfw"])
    for path in ("/tokens/pool", "/pool"):
        status, body = await admin.call("PUT", path, json={"pool": "super",
                                                           "tokens": [TOK_B, TOK_C],
                                                           "tags": ["vip"]})
        assert status == 200 and body["pool"] == "super" and body["count"] == 2
    assert sorted(live(admin, "super")) == sorted([TOK_B, TOK_C])
    assert admin.pool.get(TOK_B).tags == ["nsfw", "vip"]  # added, its own kept


@pytest.mark.parametrize("method, path, payload", [
    ("POST", "/tokens", {"super": []}),
    ("POST", "/tokens", {}),
    ("POST", "/tokens", {"gold": [TOK_C]}),
    ("POST", "/tokens", {"auto": [TOK_C]}),
    ("POST", "/tokens", {"basic": [TOK_C], "super": [TOK_C]}),
    ("POST", "/tokens", {"basic": [TOK_C, "bad token"]}),
    ("POST", "/tokens", {"basic": [{"tokens": TOK_C}]}),
    ("POST", "/tokens", {"basic": TOK_C}),
    ("POST", "/tokens", [TOK_C]),
    ("PUT", "/tokens/pool", {"pool": "super", "tokens": []}),
    ("PUT", "/tokens/pool", {"pool": "gold", "tokens": [TOK_C]}),
    ("PUT", "/pool", {"tokens": [TOK_C]}),
])
async def test_bad_replaces_are_400_and_change_nothing(admin, method, path, payload):
    admin.pool.add(TOK_A, "super")
    admin.pool.add(TOK_B, "basic")
    before = [(a.token, a.pool, a.deleted_at) for a in admin.pool.all()]
    status, body = await admin.call(method, path, json=payload)
    assert status == 400 and body["error"]["type"] == "validation_error", body
    assert [(a.token, a.pool, a.deleted_at) for a in admin.pool.all()] == before
