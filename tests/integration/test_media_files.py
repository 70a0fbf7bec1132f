"""Cached media over real sockets: a CDN stand-in (aiohttp on 127.0.0.1) serves the files,
the gateway (Hypercorn) downloads them through its curl transport and serves them back on
/v1/files/{image,video}."""
from __future__ import annotations

import asyncio
import os

import aiohttp
import psutil
import pytest
from aiohttp import web

from addons.services.links import file_link, public_base
from tests.integration.conftest import Gateway

MIB = 1 << 20


@pytest.fixture
async def cdn():
    """A CDN stand-in: GET /<name> answers the registered bytes slowly enough that
    concurrent fetches overlap; `hits` counts the requests per path."""
    files: dict[str, tuple[bytes, str]] = {}
    hits: dict[str, int] = {}
    cookies: list[str] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        hits[request.path] = hits.get(request.path, 0) + 1
        cookies.append(request.headers.get("Cookie", ""))
        if request.path not in files:
            return web.Response(status=404)
        body, ctype = files[request.path]
        await asyncio.sleep(0.2)
        return web.Response(body=body, content_type=ctype)

    app = web.Application()
    app.router.add_get("/{name:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield type("Cdn", (), {"url": f"http://127.0.0.1:{port}", "files": files, "hits": hits,
                           "cookies": cookies})
    await runner.cleanup()


@pytest.fixture
async def gateway(tmp_path, cdn):
    gw = await Gateway(tmp_path, {"GROK_APP_API_KEY": "sk-needed",
                                  "GROK_UPSTREAM_BASE_URL": cdn.url}).start()
    yield gw
    await gw.stop()


async def test_fifty_concurrent_fetches_of_one_url_download_it_once(gateway, cdn):
    cdn.files["/gen/a.png"] = (os.urandom(300_000), "image/png")
    media = gateway.services.media
    got = await asyncio.gather(*(media.fetch(cdn.url + "/gen/a.png", "tok-owner", "image")
                                 for _ in range(50)))
    assert cdn.hits["/gen/a.png"] == 1 and media.downloads == 1
    assert len({m.id for m in got}) == 1
    assert "sso=tok-owner" in cdn.cookies[0]
    assert got[0].path.read_bytes() == cdn.files["/gen/a.png"][0]


async def test_files_are_served_without_an_api_key_with_type_etag_and_ranges(gateway, cdn):
    body = os.urandom(5 * MIB + 123)
    cdn.files["/gen/v.mp4"] = (body, "video/mp4")
    media = await gateway.services.media.fetch(cdn.url + "/gen/v.mp4", "tok", "video")
    url = f"{gateway.url}/v1/files/video?id={media.id}"
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            assert await resp.read() == body
            etag = resp.headers["ETag"]
            assert "max-age" in resp.headers["Cache-Control"]
            assert resp.headers["Accept-Ranges"] == "bytes"
        async with http.get(url, headers={"Range": "bytes=1048576-2097151"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes 1048576-2097151/{len(body)}"
            assert await resp.read() == body[1048576:2097152]
        async with http.get(url, headers={"Range": "bytes=-100"}) as resp:
            assert resp.status == 206 and await resp.read() == body[-100:]
        async with http.get(url, headers={"Range": f"bytes={len(body)}-"}) as resp:
            assert resp.status == 416
            assert resp.headers["Content-Range"] == f"bytes */{len(body)}"
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and await resp.read() == b""
        async with http.head(url) as resp:
            assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(body)
        # an image route does not serve a video id
        async with http.get(f"{gateway.url}/v1/files/image?id={media.id}") as resp:
            assert resp.status == 404


@pytest.mark.parametrize("query", [
    "id=../../config.toml", "id=..%2F..%2Faccounts.db", "id=%2Fetc%2Fpasswd",
    "id=" + "A" * 32 + "%00", "id=" + "A" * 32, "id=" + "A" * 32 + ".mp4",
])
async def test_traversal_attempts_and_unknown_ids_are_404(gateway, query):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.url}/v1/files/video?{query}") as resp:
            assert resp.status == 404
            error = (await resp.json())["error"]
            assert error["param"] == "id" and error["code"] == "file_not_found"


async def test_a_missing_id_is_a_400_naming_it(gateway):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.url}/v1/files/image") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "id"
        # the rest of /v1 still wants the key
        async with http.get(f"{gateway.url}/v1/models") as resp:
            assert resp.status == 401


def test_links_use_app_url_normalised_or_the_forwarded_origin(caplog):
    assert public_base("https://api.example.com/v1/", {}) == "https://api.example.com"
    assert "ends with a slash or /v1" in caplog.text
    assert public_base("https://api.example.com/", {}) == "https://api.example.com"
    assert public_base("https://x.example/proxy", {"host": "ignored"}) == "https://x.example/proxy"
    render = {"host": "10.0.0.5:10000", "x-forwarded-proto": "https",
              "x-forwarded-host": "my-app.onrender.com"}
    assert public_base("", render) == "https://my-app.onrender.com"
    assert public_base("", {"host": "127.0.0.1:8000"}) == "http://127.0.0.1:8000"
    assert public_base("", {"host": "h:1", "x-forwarded-proto": "https, http"}) == "https://h:1"
    # a forwarded host that could break the URL is not used
    assert public_base("", {"host": "good:1", "x-forwarded-host": "evil/x?"}) == "http://good:1"
    assert file_link("https://a.b", "video", "I" * 32) == f"https://a.b/v1/files/video?id={'I' * 32}"


async def test_twenty_range_clients_of_a_50_mb_file_keep_memory_modest(gateway, cdn):
    body = os.urandom(50 * MIB)
    cdn.files["/gen/big.mp4"] = (body, "video/mp4")
    proc = psutil.Process()
    media = await gateway.services.media.fetch(cdn.url + "/gen/big.mp4", "tok", "video")
    del body
    cdn.files.clear()
    url = f"{gateway.url}/v1/files/video?id={media.id}"
    before = proc.memory_info().rss
    peak = before

    async def client(i: int, http: aiohttp.ClientSession) -> int:
        nonlocal peak
        start = i * MIB
        received = 0
        async with http.get(url, headers={"Range": f"bytes={start}-"}) as resp:
            assert resp.status == 206
            async for chunk in resp.content.iter_chunked(1 << 16):
                received += len(chunk)
                peak = max(peak, proc.memory_info().rss) if received % (4 * MIB) < 65536 else peak
        return received

    async with aiohttp.ClientSession() as http:
        got = await asyncio.gather(*(client(i, http) for i in range(20)))
    assert got == [50 * MIB - i * MIB for i in range(20)]
    growth = (peak - before) / MIB
    print(f"RSS before {before / MIB:.0f} MiB, peak growth {growth:.1f} MiB "
          f"serving {sum(got) / MIB:.0f} MiB to 20 range clients")
    assert growth < 200  # the whole file is never held, let alone 20 times


async def test_the_transport_streams_a_download_and_stops_one_past_its_limit(cdn):
    from addons.upstream.config import UpstreamConfig
    from addons.upstream.transport import CurlTransport, DownloadTooLarge
    from addons.upstream.wire import UpstreamRequest

    cdn.files["/gen/big.bin"] = (os.urandom(3 * MIB), "video/mp4")
    transport = CurlTransport(UpstreamConfig(base_url=cdn.url))
    pieces: list[int] = []

    async def sink(data: bytes) -> None:
        pieces.append(len(data))
    try:
        status, headers = await transport.download(
            UpstreamRequest("GET", cdn.url + "/gen/big.bin", {}), sink, timeout=10)
        assert status == 200 and headers["content-type"] == "video/mp4"
        assert sum(pieces) == 3 * MIB and len(pieces) > 1  # arrived in pieces, not whole
        with pytest.raises(DownloadTooLarge):
            await transport.download(UpstreamRequest("GET", cdn.url + "/gen/big.bin", {}),
                                     sink, timeout=10, max_bytes=MIB)
        status, _ = await transport.download(
            UpstreamRequest("GET", cdn.url + "/missing", {}), sink, timeout=10)
        assert status == 404
    finally:
        await transport.aclose()
