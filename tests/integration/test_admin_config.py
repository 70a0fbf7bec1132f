"""The admin config API over real sockets: what the config page reads and saves.

Secrets never leave the gateway, every change is judged before any is saved, keys the
environment sets are refused, a save lands in ${DATA_DIR}/config.toml with the operator's
comments kept, applies at once, and another gateway on the same data directory sees it."""
from __future__ import annotations

import asyncio
import json
import re
import tomllib

import aiohttp

from tests.integration.conftest import Gateway

KEY = "config-admin-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
METRICS_TOKEN = "metrics-secret-value-42"
PROXY_PASSWORD = "pr0xy-pa55w0rd"
FILE = f"""# my own notes about this gateway
[app]
app_key = "{KEY}"  # the admin secret
[metrics]
token = "{METRICS_TOKEN}"
[proxy.egress]
proxy_url = "http://user:{PROXY_PASSWORD}@proxy.example:3128"
"""


async def start(stack, **http):
    (stack.data_dir / "config.toml").write_text(FILE)
    await stack.start_gateway()
    return stack.http(**(http or {"headers": AUTH}))


async def call(http, method: str, path: str = "/config", **kw):
    async with http.request(method, "/admin/api" + path, **kw) as resp:
        return resp.status, await resp.json()


def by_key(payload: dict) -> dict[str, dict]:
    return {o["key"]: o for o in payload["options"]}


async def test_the_view_has_every_option_with_its_source_and_no_secret(stack):
    async with await start(stack) as http:
        status, body = await call(http, "GET")
    assert status == 200
    text = json.dumps(body)
    for secret in (KEY, METRICS_TOKEN, PROXY_PASSWORD):
        assert secret not in text
    options = by_key(body)
    assert options["app.app_key"] | {"help": None} == options["app.app_key"] | {
        "help": None, "value": None, "secret": True, "set": True, "source": "file"}
    assert options["metrics.token"]["set"] is True and options["metrics.token"]["value"] is None
    proxy = options["proxy.egress.proxy_url"]
    assert proxy["points_to"] == ["http://proxy.example:3128"] and proxy["value"] is None
    retries = options["retry.max_retries"]
    assert retries["type"] == "int" and retries["section"] == "retry"
    assert retries["source"] == "default" and retries["value"] == retries["default"] == 1
    assert retries["help"]
    assert options["features.image_format"]["choices"]
    assert options["app.api_key"]["type"] == "string_list" and options["app.api_key"]["set"] is False
    # the stack points grok.com at the simulator with GROK_UPSTREAM_BASE_URL
    upstream = options["upstream.base_url"]
    assert upstream["source"] == "env" and upstream["env"] == "GROK_UPSTREAM_BASE_URL"
    assert body["file"].endswith("config.toml")
    # the older gateways' scripts read the merged values as nested tables, secrets masked
    assert body["retry"]["max_retries"] == 1 and body["app"]["app_key"] == "********"
    assert body["upstream"]["base_url"] == upstream["value"]


async def test_a_save_lands_in_the_file_with_comments_kept_and_applies_at_once(stack):
    async with await start(stack) as http:
        status, body = await call(http, "POST", json={
            "retry.max_retries": 3, "features": {"stream": "true"},
            "server.trusted_proxies": "10.0.0.0/8, 192.168.0.1"})
        assert status == 200, body
        assert body["saved"] == ["features.stream", "retry.max_retries", "server.trusted_proxies"]
        assert body["relogin"] is False
        options = by_key(body)
        assert options["retry.max_retries"] | {} == options["retry.max_retries"] | {
            "value": 3, "source": "file"}
        status, body = await call(http, "GET")
        assert by_key(body)["features.stream"]["value"] is True
    text = (stack.data_dir / "config.toml").read_text()
    assert "# my own notes about this gateway" in text and "# the admin secret" in text
    saved = tomllib.loads(text)
    assert saved["retry"]["max_retries"] == 3 and saved["features"]["stream"] is True
    assert saved["server"]["trusted_proxies"] == ["10.0.0.0/8", "192.168.0.1"]
    assert stack.gateway.services.settings.options.retry.max_retries == 3  # no restart


async def test_bad_values_are_refused_naming_the_key_and_nothing_is_saved(stack):
    async with await start(stack) as http:
        before = (stack.data_dir / "config.toml").read_text()
        status, body = await call(http, "POST", json={
            "retry.max_retries": 2, "chat.timeout": "soon", "features.image_format": "gif",
            "no.such_key": 1})
        assert status == 400
        assert body["error"]["param"] == "chat.timeout"
        assert "chat.timeout" in body["error"]["message"]
        assert {e["param"] for e in body["errors"]} == {
            "chat.timeout", "features.image_format", "no.such_key"}
        assert (stack.data_dir / "config.toml").read_text() == before  # all or nothing
        # a secret's complaint does not repeat what was sent
        status, body = await call(http, "POST", json={"metrics.token": ["sk-leak-me-please"]})
        assert status == 400 and body["error"]["param"] == "metrics.token"
        assert "sk-leak-me-please" not in json.dumps(body)
        status, body = await call(http, "POST", json={"app.app_key": "short"})
        assert status == 400 and body["error"]["param"] == "app.app_key"
        for bad in ([], {}, "x", {"app": {}}):
            status, body = await call(http, "POST", json=bad)
            assert status == 400


async def test_keys_the_environment_sets_are_refused_with_the_variable(stack):
    async with await start(stack) as http:
        status, body = await call(http, "PATCH", json={"upstream.base_url": "http://x.test"})
    assert status == 409
    assert body["error"]["param"] == "upstream.base_url"
    assert "GROK_UPSTREAM_BASE_URL" in body["error"]["message"]
    assert body["errors"][0]["env"] == "GROK_UPSTREAM_BASE_URL"
    assert "base_url" not in (stack.data_dir / "config.toml").read_text()


async def test_another_gateway_on_the_data_directory_sees_a_save(stack):
    async with await start(stack) as http:
        other = await Gateway(stack.data_dir, dict(stack.env)).start()
        try:
            assert other.services.settings.options.retry.max_retries == 1
            status, _ = await call(http, "POST", json={"retry.max_retries": 4})
            assert status == 200
            async with stack.http(headers=AUTH) as http2:
                for _ in range(60):  # the file is checked at most once a second
                    async with http2.get(other.url + "/admin/api/config") as resp:
                        seen = by_key(await resp.json())["retry.max_retries"]["value"]
                    if seen == 4:
                        break
                    await asyncio.sleep(0.05)
            assert seen == 4
        finally:
            await other.stop()


async def test_a_new_admin_secret_ends_the_page_session(stack):
    async with await start(stack, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post("/admin/api/login", json={"app_key": KEY}) as resp:
            assert resp.status == 200
        async with http.get("/admin/config") as resp:
            page = await resp.text()
        csrf = json.loads(re.search(r'id="boot">(.*?)</script>', page).group(1))["csrf"]
        headers = {"X-CSRF-Token": csrf}
        status, body = await call(http, "POST", json={"retry.max_retries": 2}, headers=headers)
        assert status == 200 and body["relogin"] is False
        new_key = "a-brand-new-secret-42"
        status, body = await call(http, "POST", json={"app.app_key": new_key}, headers=headers)
        assert status == 200 and body["relogin"] is True
        assert new_key not in json.dumps(body)
        status, body = await call(http, "GET")
        assert status == 401 and body["error"]["code"] == "session_expired"
    async with stack.http(headers={"Authorization": f"Bearer {new_key}"}) as http:
        assert (await call(http, "GET"))[0] == 200
    # the query form cannot change the secret (a form of another site could send it)
    async with stack.http() as http:
        status, body = await call(http, "POST", f"/config?app_key={new_key}",
                                  json={"app.app_key": "yet-another-secret-1"})
        assert status == 400 and body["error"]["code"] == "header_required"
