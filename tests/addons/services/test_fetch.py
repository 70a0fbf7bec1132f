"""The attachment fetcher: data URIs, the SSRF address policy, redirects, size and time caps.

A local aiohttp server on 127.0.0.1 stands in for the web; the private-address policy is
relaxed only in the tests that must reach it."""
from __future__ import annotations

import asyncio
import base64
import ipaddress
from typing import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from addons.services.fetch import (
    FetchLimits, MediaError, allow_any_address, decode_data_uri, fetch_url, is_public_address,
    split_data_uri,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
ONLY_127 = FetchLimits(timeout=5, allowed=lambda ip: ip == ipaddress.ip_address("127.0.0.1"))
ANY = FetchLimits(timeout=5, allowed=allow_any_address)


class Web:
    def __init__(self) -> None:
        self.hits: list[web.Request] = []
        self.url = ""


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Web]:
    state = Web()

    async def record(request: web.Request) -> None:
        state.hits.append(request)

    async def png(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(body=PNG, content_type="image/png")

    async def redirect(request: web.Request) -> web.StreamResponse:
        await record(request)
        resp = web.Response(status=302, headers={"Location": request.query["to"]})
        resp.set_cookie("sid", "secret")
        return resp

    async def big(request: web.Request) -> web.StreamResponse:
        await record(request)
        if "chunked" in request.query:
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(10):
                await resp.write(b"x" * 500)
            await resp.write_eof()
            return resp
        return web.Response(body=b"x" * 5000, content_type="application/octet-stream")

    async def slow(request: web.Request) -> web.StreamResponse:
        await record(request)
        await asyncio.sleep(3)
        return web.Response(body=b"late")

    async def missing(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/img/pic.png", png)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    state.port = port  # type: ignore[attr-defined]
    try:
        yield state
    finally:
        await runner.cleanup()


# ---- address policy -----------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:7f00:1::1", "2001:db8::1",
])
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/img/pic.png",
    "http://localhost:{port}/img/pic.png",  # a name: refused inside the resolver
    "http://[::1]:{port}/img/pic.png",
    "http://[::ffff:127.0.0.1]:{port}/img/pic.png",
    "http://10.0.0.1/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:{port}/img/pic.png",
])
async def test_default_policy_never_connects_to_private_addresses(site, url):
    with pytest.raises(MediaError, match="private or reserved"):
        await fetch_url(url.format(port=site.port), FetchLimits(timeout=5))
    assert site.hits == []


async def test_legacy_numeric_ipv4_forms_are_refused(site):
    with pytest.raises(MediaError):
        await fetch_url(f"http://2130706433:{site.port}/img/pic.png", FetchLimits(timeout=5))
    assert site.hits == []


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "file:///etc/passwd", "http:///x"])
async def test_only_http_urls_with_a_host(url):
    with pytest.raises(MediaError):
        await fetch_url(url, ANY)


# ---- fetching -----------------------------------------------------------------------

async def test_fetch_returns_bytes_mime_and_name_without_cookies_or_upstream_headers(site):
    to = f"{site.url}/img/pic.png"
    media = await fetch_url(f"{site.url}/redirect?to={to}", ONLY_127)
    assert (media.data, media.mime, media.name) == (PNG, "image/png", "pic.png")
    first, second = site.hits
    assert second.headers.get("Cookie") is None  # the redirect's Set-Cookie is not kept
    for hit in site.hits:
        assert hit.headers["User-Agent"].startswith("grok2api-media-fetch")
        assert not {"cookie", "x-statsig-id", "x-xai-request-id", "origin", "referer"} & {
            k.lower() for k in hit.headers}


async def test_relative_redirect_is_followed(site):
    media = await fetch_url(f"{site.url}/redirect?to=/img/pic.png", ONLY_127)
    assert media.data == PNG


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/", "http://[::1]:{port}/img/pic.png",
    "http://127.0.0.2:{port}/img/pic.png",
])
async def test_a_redirect_to_a_private_address_is_refused(site, target):
    with pytest.raises(MediaError, match="private or reserved"):
        await fetch_url(f"{site.url}/redirect?to={target.format(port=site.port)}", ONLY_127)
    assert len(site.hits) == 1  # only the first hop reached the server


async def test_redirect_loops_are_bounded(site):
    inner = f"{site.url}/redirect?to={site.url}/img/pic.png"
    chain = f"{site.url}/redirect?to={site.url}/redirect?to={inner}"
    with pytest.raises(MediaError, match="redirected more than 1"):
        await fetch_url(chain, FetchLimits(timeout=5, max_redirects=1, allowed=allow_any_address))


@pytest.mark.parametrize("query", ["", "?chunked=1"])
async def test_size_cap(site, query):
    with pytest.raises(MediaError, match="larger than the 1000 byte limit"):
        await fetch_url(f"{site.url}/big{query}", FetchLimits(timeout=5, max_bytes=1000,
                                                              allowed=allow_any_address))
    media = await fetch_url(f"{site.url}/big{query}", FetchLimits(timeout=5, max_bytes=5000,
                                                                  allowed=allow_any_address))
    assert len(media.data) == 5000


async def test_timeout(site):
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(MediaError, match="timed out after 0.3s"):
        await fetch_url(f"{site.url}/slow", FetchLimits(timeout=0.3, allowed=allow_any_address))
    assert loop.time() - started < 2


async def test_non_200_is_an_error(site):
    with pytest.raises(MediaError, match="HTTP 404"):
        await fetch_url(f"{site.url}/missing", ANY)


async def test_unreachable_host_is_an_error(site):
    port = site.port
    with pytest.raises(MediaError, match="could not be fetched"):
        await fetch_url(f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/x", ANY)


# ---- data URIs ----------------------------------------------------------------------

def test_data_uri_decodes_with_whitespace_and_missing_padding():
    b64 = base64.b64encode(PNG).decode()
    spaced = b64[:10] + "\n " + b64[10:].rstrip("=")
    media = decode_data_uri(f"data:image/png;base64,{spaced}", 10_000)
    assert (media.data, media.mime, media.name) == (PNG, "image/png", "file.png")
    named = decode_data_uri("data:application/pdf;name=report.pdf;base64,JVBERg==", 100)
    assert (named.mime, named.name, named.data) == ("application/pdf", "report.pdf", b"%PDF")
    assert decode_data_uri("data:;base64,AAAA", 100).name == "file.bin"


@pytest.mark.parametrize("uri,reason", [
    ("data:image/png;base64,not*base64!", "not valid base64"),
    ("data:image/png;base64,A", "not valid base64"),
    ("data:image/png,plain", "base64-encoded"),
    ("data:image/png;base64,", "empty payload"),
    ("data:image/png;base64,   ", "empty payload"),
    ("iVBORw0KGgo=", "URL or data URI"),
])
def test_bad_data_uris(uri, reason):
    with pytest.raises(MediaError, match=reason):
        decode_data_uri(uri, 1000)


def test_data_uri_size_cap():
    with pytest.raises(MediaError, match="larger than the 10 byte limit"):
        decode_data_uri("data:text/plain;base64," + base64.b64encode(b"x" * 11).decode(), 10)
    with pytest.raises(MediaError, match="larger than"):
        decode_data_uri("data:text/plain;base64," + "A" * 4000, 10)  # refused before decoding


def test_split_checks_the_shape_only():
    assert split_data_uri("data:image/png;base64,@@@") == ("image/png", None, "@@@")
