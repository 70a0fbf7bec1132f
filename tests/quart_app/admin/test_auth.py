"""The admin secret as Bearer or ?app_key=, constant-time, locked when empty."""
from __future__ import annotations

from tests.quart_app.admin.conftest import KEY


async def test_bearer_and_query_key_are_accepted(admin):
    assert await admin.call("GET", "/verify") == (200, {"status": "success"})
    assert (await admin.call("GET", f"/verify?app_key={KEY}", auth=False))[0] == 200
    assert (await admin.call("GET", "/verify", auth=False,
                             headers={"Authorization": f"bearer {KEY}"}))[0] == 200


async def test_missing_and_wrong_keys_are_401(admin):
    status, body = await admin.call("GET", "/tokens", auth=False)
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "missing_api_key" and body["error"]["status"] == 401
    status, body = await admin.call("GET", "/tokens", auth=False,
                                    headers={"Authorization": "Bearer nope"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = await admin.call("GET", "/verify?app_key=nope", auth=False)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    # the /v1 API key is not an admin key, and x-api-key is not an admin header
    status, _ = await admin.call("GET", "/verify", auth=False, headers={"x-api-key": KEY})
    assert status == 401


async def test_every_admin_route_is_guarded(admin):
    for method, path in [("GET", "/status"), ("GET", "/storage"), ("POST", "/sync"),
                         ("POST", "/tokens/add"), ("POST", "/tokens"), ("PUT", "/tokens/pool"),
                         ("PUT", "/pool"), ("PUT", "/tokens/edit"), ("DELETE", "/tokens"),
                         ("DELETE", "/tokens/invalid"), ("POST", "/tokens/disabled"),
                         ("POST", "/tokens/disabled/batch"), ("POST", "/batch/refresh"),
                         ("POST", "/batch/nsfw"), ("GET", "/batch/abc/stream"),
                         ("POST", "/batch/abc/cancel"), ("GET", "/batch/abc")]:
        status, body = await admin.call(method, path, auth=False)
        assert status == 401, (method, path)


async def test_an_empty_app_key_locks_the_admin_api(admin):
    admin.services.settings.set("app.app_key", "")
    for auth in (True, False):
        status, body = await admin.call("GET", "/verify", auth=auth)
        assert status == 401 and body["error"]["code"] == "admin_locked"
        assert "not configured" in body["error"]["message"]
    admin.services.settings.set("app.app_key", "new-key")  # a changed key applies at once
    assert (await admin.call("GET", "/verify", auth=False,
                             headers={"Authorization": "Bearer new-key"}))[0] == 200
    assert (await admin.call("GET", "/verify"))[0] == 401
