"""The older gateways' admin routes (api-surface §10) answer as today's: the fork's
`/api/v1/admin/*`, v1.x's `/v1/admin/*` and the v0 `/api/*` table, behind the same admin
secret and without CORS."""
from __future__ import annotations

import pytest

from quart_app.legacy_routes import rewrite
from tests.integration.test_admin_api import AUTH, TOKENS, start


def test_the_rewrite_table() -> None:
    assert rewrite("GET", "/api/v1/admin/keys").path == "/admin/api/keys"
    assert rewrite("POST", "/v1/admin/batch/abc/cancel").path == "/admin/api/batch/abc/cancel"
    refresh = rewrite("POST", "/v1/admin/tokens/refresh/async")
    assert (refresh.path, refresh.query) == ("/admin/api/batch/refresh", "async=true")
    assert rewrite("POST", "/api/tokens/delete").method == "DELETE"
    assert rewrite("GET", "/api/unknown") is None
    assert rewrite("GET", "/v1/models") is None


async def _status(http, method: str, path: str, **kw):
    async with http.request(method, path, **kw) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body, resp.headers


async def test_old_prefixes_answer_as_the_admin_api(stack):
    async with await start(stack, "super", "basic") as http:
        await _status(http, "POST", "/admin/api/tokens/add",
                      json={"tokens": TOKENS[:2], "pool": "super"})
        status, today, _ = await _status(http, "GET", "/admin/api/tokens")
        assert status == 200
        for old in ("/api/v1/admin/tokens", "/v1/admin/tokens", "/api/tokens"):
            status, body, headers = await _status(http, "GET", old)
            assert status == 200, old
            assert [t["token"] for t in body["tokens"]] == [t["token"] for t in today["tokens"]]
            assert "access-control-allow-origin" not in headers
        status, stats, _ = await _status(http, "GET", "/api/stats")
        _, metrics, _ = await _status(http, "GET", "/admin/api/metrics")
        assert status == 200 and stats.keys() == metrics.keys()
        status, body, _ = await _status(http, "POST", "/api/cache/clear/images")
        assert status == 200, body
        # v0's delete is a POST of the list
        status, body, _ = await _status(http, "POST", "/api/tokens/delete", json=[TOKENS[1]])
        assert status == 200 and body["deleted"] == 1
        _, after, _ = await _status(http, "GET", "/admin/api/tokens")
        assert [t["token"] for t in after["tokens"]] == [TOKENS[0]]
        # v1.x's async refresh starts today's batch task
        status, body, _ = await _status(http, "POST", "/v1/admin/tokens/refresh/async",
                                        json={"tokens": [TOKENS[0]]})
        assert status == 200 and len(body["task_id"]) == 32


@pytest.mark.parametrize("path", ["/api/v1/admin/tokens", "/v1/admin/verify", "/api/tokens"])
async def test_old_routes_need_the_admin_secret(stack, path):
    await start(stack)
    async with stack.http() as http:
        status, body, _ = await _status(http, "GET", path)
        assert status == 401 and body["error"]["type"] == "authentication_error"
        async with http.options(path, headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "GET"}) as r:
            assert "access-control-allow-origin" not in r.headers
        status, _, _ = await _status(http, "GET", "/api/unknown", headers=AUTH)
        assert status == 404
