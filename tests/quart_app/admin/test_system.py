"""The admin system endpoints: status, storage, forced sync."""
from __future__ import annotations

from quart_app.admin.system import storage_type
from tests.quart_app.admin.conftest import TOK_A


async def test_status_storage_and_sync(admin):
    admin.pool.add(TOK_A, "super")
    status, body = await admin.call("GET", "/status")
    assert status == 200 and body["status"] == "ok" and body["size"] == 1
    assert body["selection_strategy"] == "random" and isinstance(body["revision"], int)
    assert await admin.call("GET", "/storage") == (200, {"type": "local", "redis": False})
    status, body = await admin.call("POST", "/sync")
    assert status == 200 and set(body) >= {"changed", "revision"}
    assert body["revision"] >= 1  # the pending add was saved first


async def test_status_is_503_before_the_directory_is_ready(admin):
    admin.services.refresher, saved = None, admin.services.refresher
    try:
        status, body = await admin.call("GET", "/status")
        assert status == 503 and body["error"]["code"] == "directory_not_initialised"
    finally:
        admin.services.refresher = saved


def test_storage_type_from_the_url():
    assert storage_type(None) == "local"
    assert storage_type("postgres://u@h/db") == "postgresql"
    assert storage_type("postgresql+pool://u@h/db") == "postgresql"
    assert storage_type("mysql://u@h/db") == "mysql"
