"""The FlareSolverr client against a local stand-in of its API."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from aiohttp import web

from addons.upstream.flaresolverr import SolveError, endpoint, proxy_param, solve

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


class FakeFlareSolverr:
    def __init__(self, answer: Any, status: int = 200) -> None:
        self.answer, self.status = answer, status
        self.calls: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append({"path": request.path, "json": await request.json()})
        if isinstance(self.answer, bytes):
            return web.Response(status=self.status, body=self.answer)
        return web.json_response(self.answer, status=self.status)

    async def __aenter__(self) -> "FakeFlareSolverr":
        app = web.Application()
        app.router.add_post("/v1", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.runner.cleanup()


def solved(*cookies: tuple[str, str], agent: str = UA) -> dict[str, Any]:
    return {"status": "ok", "message": "Challenge solved!", "solution": {
        "url": "https://grok.com/", "status": 200, "userAgent": agent,
        "cookies": [{"name": n, "value": v, "domain": ".grok.com", "path": "/"} for n, v in cookies]}}


async def test_a_solution_gives_the_cookie_string_and_the_agent() -> None:
    answer = solved(("cf_clearance", "abc.def-1"), ("__cf_bm", "bm"), ("sso", "never"),
                    ("bad;name", "x"), ("_cfuvid", "has space"), ("cf_chl_rc", "1"))
    async with FakeFlareSolverr(answer) as fake:
        sol = await solve(fake.url, "https://grok.com", "http://u:p%40ss@10.1.2.3:3128", 12)
    assert sol.cookies == "cf_clearance=abc.def-1; __cf_bm=bm; cf_chl_rc=1"
    assert sol.user_agent == UA and sol.has_clearance
    assert fake.calls == [{"path": "/v1", "json": {
        "cmd": "request.get", "url": "https://grok.com", "maxTimeout": 12000,
        "proxy": {"url": "http://10.1.2.3:3128", "username": "u", "password": "p@ss"}}}]


async def test_a_direct_egress_sends_no_proxy() -> None:
    async with FakeFlareSolverr(solved(("cf_clearance", "x"))) as fake:
        await solve(fake.url + "/", "https://grok.com", None, 5)
    assert "proxy" not in fake.calls[0]["json"]


@pytest.mark.parametrize(("answer", "status", "says"), [
    ({"status": "error", "message": "Error: Challenge not solved in 60000 ms"}, 500,
     "Challenge not solved"),
    ({"status": "ok", "solution": {"cookies": [], "userAgent": UA}}, 200, "no cookies"),
    ({"status": "ok", "solution": {"cookies": [{"name": "a", "value": "b"}]}}, 200, "userAgent"),
    ({"status": "ok"}, 200, "without a solution"),
    (b"<html>502</html>", 502, "without JSON"),
])
async def test_a_failed_solve_says_why(answer, status, says) -> None:
    async with FakeFlareSolverr(answer, status) as fake:
        with pytest.raises(SolveError, match=says):
            await solve(fake.url, "https://grok.com", None, 5)


async def test_an_unreachable_flaresolverr_is_a_solve_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SolveError, match="could not be reached"):
        await solve(f"http://127.0.0.1:{port}", "https://grok.com", None, 5)


def test_endpoint_and_proxy_param() -> None:
    assert endpoint("http://flaresolverr:8191") == "http://flaresolverr:8191/v1"
    assert endpoint("http://flaresolverr:8191/v1/") == "http://flaresolverr:8191/v1"
    assert proxy_param("socks5://10.0.0.1:1080") == {"url": "socks5://10.0.0.1:1080"}
    assert proxy_param("http://me@h:1") == {"url": "http://h:1", "username": "me"}
