"""The video webhook: only http(s) receivers, signed bodies, bounded retries."""
from __future__ import annotations

import hashlib
import hmac

import pytest
from aiohttp import web

from addons.services.video_webhook import SIGNATURE_HEADER, check_url, deliver, signature


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/x",
                                 "http://"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(ValueError):
        check_url(url)


def test_an_empty_url_turns_it_off_and_http_urls_pass():
    for url in ("", "http://127.0.0.1:9/x", "https://hooks.example.com/v?x=1"):
        check_url(url)


def test_signature_is_the_hmac_of_the_raw_body():
    body = b'{"id":"video_1"}'
    assert signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.fixture
async def receiver():
    calls: list[dict] = []
    status = {"code": 500}

    async def hook(request: web.Request) -> web.Response:
        calls.append(dict(request.headers))
        return web.Response(status=status["code"])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook", calls, status
    await runner.cleanup()


async def test_a_refusing_receiver_gets_the_first_try_and_the_retries_only(receiver):
    url, calls, _ = receiver
    assert not await deliver(url, b"{}", "", retries=2, backoff=0.01)
    assert len(calls) == 3
    assert SIGNATURE_HEADER not in calls[0]  # no secret: unsigned


async def test_a_receiver_that_accepts_stops_the_retries(receiver):
    url, calls, status = receiver
    status["code"] = 200
    assert await deliver(url, b"{}", "s", retries=3, backoff=0.01)
    assert len(calls) == 1 and calls[0][SIGNATURE_HEADER] == signature("s", b"{}")
