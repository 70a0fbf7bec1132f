"""While the admin secret is the shipped default, it opens only the first-run setup."""
from __future__ import annotations

import logging
from pathlib import Path

from quart_app.app import create_app
from state.boot import BootConfig
from state.settings import Settings
from tests.quart_app.admin.conftest import KEY

DEFAULT = {"Authorization": "Bearer grok2api"}
NEW = "a-brand-new-admin-secret"


async def test_the_default_secret_opens_only_the_setup(admin) -> None:
    admin.services.settings.set("app.app_key", "grok2api")
    admin.pool.add("eyJhbGciOiJIUzI1NiJ9.account-x.0123456789abcdef", pool="basic")
    for method, path in [("GET", "/verify"), ("GET", "/tokens"), ("GET", "/status"),
                         ("POST", "/tokens/add"), ("DELETE", "/tokens"), ("POST", "/sync"),
                         ("POST", "/batch/refresh"), ("GET", "/batch/abc/stream")]:
        status, body = await admin.call(method, path, auth=False, headers=DEFAULT)
        assert status == 403, (method, path)
        assert body["error"]["code"] == "admin_key_default"
        assert "grok2api config set app.app_key" in body["error"]["message"]
    status, body = await admin.call("GET", "/tokens?app_key=grok2api", auth=False)
    assert status == 403 and "eyJ" not in str(body)
    # the setup: the status call, then a new secret
    # with what else a fresh deploy should check: storage, public URL, accounts
    assert await admin.call("GET", "/setup", auth=False, headers=DEFAULT) == (200, {
        "app_key_default": True, "app_key_source": "file", "app_key_settable": True,
        "storage": "local", "storage_persistent": False, "app_url": "", "accounts": 1})
    status, body = await admin.call("POST", "/setup/app_key", auth=False, headers=DEFAULT,
                                    json={"app_key": NEW})
    assert status == 200 and body["status"] == "success" and body["app_key_default"] is False
    assert admin.services.settings.options.app.app_key == NEW
    assert NEW in admin.services.settings.user_path.read_text()
    # the old default is now a wrong secret; the new one opens everything
    assert (await admin.call("GET", "/verify", auth=False, headers=DEFAULT))[0] == 401
    new = {"Authorization": f"Bearer {NEW}"}
    status, body = await admin.call("GET", "/tokens", auth=False, headers=new)
    assert status == 200 and len(body["tokens"]) == 1
    assert (await admin.call("GET", "/setup", auth=False, headers=new))[1]["app_key_default"] \
        is False


async def test_setup_needs_the_secret_and_checks_the_new_one(admin) -> None:
    admin.services.settings.set("app.app_key", "grok2api")
    assert (await admin.call("GET", "/setup", auth=False))[0] == 401
    assert (await admin.call("POST", "/setup/app_key", auth=False, json={"app_key": NEW}))[0] \
        == 401
    # ?app_key= is refused for this call: a page of another site could send it in a form
    status, body = await admin.call("POST", "/setup/app_key?app_key=grok2api", auth=False,
                                    json={"app_key": NEW})
    assert status == 400 and body["error"]["code"] == "header_required"
    for payload, param, words in [
            ({"app_key": "short"}, "app_key", "12 to 256 characters"),
            ({"app_key": 12345678901234}, "app_key", "must be a string"),
            ({"app_key": "has a space in it"}, "app_key", "printable ASCII"),
            ({"app_key": "grok2api"}, "app_key", "12 to 256"),
            ({}, "app_key", "required"),
            (["x"], None, "JSON object")]:
        status, body = await admin.call("POST", "/setup/app_key", auth=False, headers=DEFAULT,
                                        json=payload)
        assert status == 400 and body["error"]["param"] == param, payload
        assert words in body["error"]["message"], body
    assert admin.services.settings.options.app.app_key == "grok2api"


async def test_a_secret_from_the_environment_cannot_be_set_here(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "GROK_UPSTREAM_BASE_URL": "http://127.0.0.1:9",
           "GROK_ACCOUNT__REFRESH__ENABLED": "false", "GROK_APP_APP_KEY": "grok2api"}
    boot = BootConfig.from_env(env, dotenv=False)
    app = create_app(boot, Settings.from_boot(boot))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        resp = await client.get("/admin/api/setup", headers=DEFAULT)
        body = await resp.get_json()
        assert {k: body[k] for k in ("app_key_default", "app_key_source",
                                     "app_key_settable")} == {
            "app_key_default": True, "app_key_source": "env", "app_key_settable": False}
        resp = await client.post("/admin/api/setup/app_key", headers=DEFAULT,
                                 json={"app_key": NEW})
        body = await resp.get_json()
        assert resp.status_code == 409 and body["error"]["code"] == "app_key_from_environment"
        assert "GROK_APP_APP_KEY" in body["error"]["message"]


async def test_each_start_warns_while_the_secret_is_the_default(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, "quart_app.admin")
    env = {"DATA_DIR": str(tmp_path), "GROK_UPSTREAM_BASE_URL": "http://127.0.0.1:9",
           "GROK_ACCOUNT__REFRESH__ENABLED": "false"}
    for key, warned in [(None, True), (None, True), (KEY, False)]:
        caplog.clear()
        boot = BootConfig.from_env({**env, **({"GROK_APP_APP_KEY": key} if key else {})},
                                   dotenv=False)
        app = create_app(boot, Settings.from_boot(boot))
        async with app.test_app():
            pass
        lines = [r for r in caplog.records if r.levelno == logging.WARNING
                 and "app.app_key is the shipped default" in r.getMessage()]
        assert len(lines) == (1 if warned else 0)
