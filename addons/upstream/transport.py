"""The REST chat transport: pooled curl easy handles with browser impersonation.

Requests run on `curl_pool.HandlePool` (curl_cffi's `Curl` + `AsyncCurl`, not
`AsyncSession`): each handle is configured once and only the per-request options change.

Known traps handled here (docs/upstream.md, "Known traps"):
* curl_cffi's `Response.aclose()` awaits the whole body. We have no Response:
  `CurlStream.aclose()` removes a running transfer from the multi handle at once
  (`curl_multi_remove_handle`), which stops it and frees its handle for the pool.
* `max_clients` is sized by the caller; the pool never runs more transfers than that
  (further requests wait for a handle, within their first-byte / total timeout).
* curl timeouts are stall timeouts only: first-byte, idle and total timeouts are
  enforced here against loop-time deadlines.
* HTTP/1.1 is pinned for plain `http://` upstreams (the simulator), after impersonation.

Cookies: the curl cookie engine is never enabled, so nothing from a Set-Cookie is kept
between requests (accounts must not mix); the account's Cookie header is sent as given.
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, get_args

import orjson
from curl_cffi import CurlError
from curl_cffi.requests.impersonate import BrowserTypeLiteral

from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import Timeouts, UpstreamStream, UpstreamTimeout
from addons.upstream.clearance import ClearanceStore
from addons.upstream.config import UpstreamConfig
from addons.upstream.curl_handle import EasyHandle, parse_headers
from addons.upstream.curl_pool import HandlePool, Transfer, TransferAborted
from addons.upstream.curl_stream import CurlStream, transfer_error
from addons.upstream.headers import ACCEPT_ENCODING

__all__ = ["CurlStream", "CurlTransport", "DownloadTooLarge", "UpstreamStream",
           "resolve_impersonate"]

_FALLBACK_BROWSERS = ("chrome136", "chrome120")


def resolve_impersonate(browser: str) -> str:
    """`browser` if this curl_cffi knows it, else chrome136, else chrome120."""
    known = set(get_args(BrowserTypeLiteral))
    for name in (browser, *_FALLBACK_BROWSERS):
        if name and name in known:
            return name
    return "chrome"


class DownloadTooLarge(Exception):
    """A download's body grew past the limit its caller set."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


def _body(req: UpstreamRequest) -> bytes | None:
    if req.body is not None:
        return req.body
    if req.json is None:
        return None
    return orjson.dumps(req.json)


class CurlTransport:
    """`Transport` over pooled curl handles. Create inside the running loop's lifetime;
    the pool (and its curl multi handle) is built lazily on first use."""

    def __init__(self, cfg: UpstreamConfig, max_clients: int = 64,
                 clearance: ClearanceStore | None = None, *, idle_keep: int = 32,
                 idle_trim_after: float = 30.0) -> None:
        self.cfg = cfg
        self.max_clients = max(1, int(max_clients))
        #: the handle pool's shrinking after a burst (see curl_pool.HandlePool)
        self.idle_keep, self.idle_trim_after = idle_keep, idle_trim_after
        self.impersonate = resolve_impersonate(cfg.browser)
        #: solved Cloudflare clearances by egress, applied to grok.com calls as they are sent
        self.clearance = clearance if clearance is not None else ClearanceStore()
        self._grok_prefix = cfg.base_url + "/"
        self._pool: HandlePool | None = None

    def dress(self, request: UpstreamRequest, proxy: str | None) -> dict[str, str]:
        """The headers `request` goes out with through `proxy`: a call to grok.com carries
        that egress's solved clearance, if any (another host, such as accounts.x.ai, has
        clearances of its own and gets none). Notes the egress on the request."""
        if not request.url.startswith(self._grok_prefix):
            request.via = None
            return request.headers
        headers, request.via = self.clearance.apply(request.headers, proxy)
        return headers

    def _get_pool(self) -> HandlePool:
        if self._pool is None:
            self._pool = HandlePool(self.max_clients, target=self.impersonate,
                                    http1=self.cfg.http1_only,
                                    verify=not self.cfg.skip_ssl_verify,
                                    accept_encoding=ACCEPT_ENCODING, idle_keep=self.idle_keep,
                                    idle_trim_after=self.idle_trim_after)
        return self._pool

    def free_clients(self) -> int:
        """How many more transfers could start now without waiting for a handle."""
        return self.max_clients - (self._pool.in_use if self._pool is not None else 0)

    async def _acquire(self, pool: HandlePool, deadline: float) -> EasyHandle:
        handle = pool.try_acquire()
        if handle is None:
            async with asyncio.timeout_at(deadline):
                handle = await pool.acquire()
        return handle

    async def open(self, request: UpstreamRequest, timeouts: Timeouts,
                   parser: Any = None) -> CurlStream:
        """Send; return once the status (and the first body byte, or the end) is known.
        `parser`: the body's frame parser when it is not grok.com's NDJSON (the console)."""
        pool = self._get_pool()
        started = pool.loop.time()
        deadline = started + timeouts.first_byte
        # curl's own stall guard only; the app-level timeouts fire first
        limits = (int(timeouts.connect * 1000), 0,
                  math.ceil(timeouts.connect + timeouts.first_byte + timeouts.idle), 0)
        proxy = self.cfg.pick_proxy()
        headers = self.dress(request, proxy)
        try:
            handle = await self._acquire(pool, deadline)
            tr = pool.start(handle, request.method, request.url, headers,
                            _body(request), proxy, limits)
        except TimeoutError:
            raise UpstreamTimeout("first_byte", timeouts.first_byte) from None
        except (CurlError, TransferAborted) as exc:
            raise transfer_error(exc, "first_byte", timeouts.connect) from None
        try:
            while not (tr.chunks or tr.done):
                if not await tr.wait(deadline):
                    raise UpstreamTimeout("first_byte", timeouts.first_byte)
        except BaseException:
            tr.release()  # a cancelled or timed-out open stops the transfer at once
            raise
        if tr.done and tr.error is not None and not tr.chunks:
            raise transfer_error(tr.error, "first_byte", timeouts.connect) from None
        return CurlStream(tr, timeouts, started, self.cfg.assets_url, parser)

    async def request(
        self, request: UpstreamRequest, timeout: float = 30.0, *, allow_redirects: bool = False,
        proxy: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """A short, fully buffered call. Returns (status, lower-cased headers, body).
        `proxy` pins the egress (calls that must share one); None picks as configured."""
        pool = self._get_pool()
        deadline = pool.loop.time() + timeout
        limits = (0, int(timeout * 1000), 0, int(bool(allow_redirects)))
        proxy = proxy or self.cfg.pick_proxy()
        tr = await self._start_buffered(pool, request, proxy, limits, deadline, timeout,
                                        body=_body(request), wake_on_data=False)
        try:
            while not tr.done:
                if not await tr.wait(deadline):
                    raise UpstreamTimeout("total", timeout)
        finally:
            tr.release()
        if tr.error is not None:
            raise transfer_error(tr.error, "total", timeout) from None
        return tr.status, parse_headers(tr.raw_headers), tr.take()

    async def _start_buffered(self, pool: HandlePool, request: UpstreamRequest, proxy: str | None,
                              limits: tuple[int, int, int, int], deadline: float,
                              timeout: float, *, body: bytes | None = None,
                              wake_on_data: bool = True) -> Transfer:
        """Start a transfer bound by one total deadline (short calls and downloads); waiting
        for a handle counts against it."""
        try:
            handle = await self._acquire(pool, deadline)
            return pool.start(handle, request.method, request.url, self.dress(request, proxy),
                              body, proxy, limits, wake_on_data=wake_on_data)
        except TimeoutError:
            raise UpstreamTimeout("total", timeout) from None
        except (CurlError, TransferAborted) as exc:
            raise transfer_error(exc, "total", timeout) from None

    async def download(
        self, request: UpstreamRequest, sink: Callable[[bytes], Awaitable[None]], *,
        timeout: float = 120.0, max_bytes: int = 0,
    ) -> tuple[int, dict[str, str]]:
        """A GET whose body goes to `sink` as it arrives instead of into memory (a video
        must not be held whole). Returns (status, lower-cased headers); the body of a
        non-200 answer is dropped. `max_bytes` (0: no limit) stops the transfer once the
        body grows past it (DownloadTooLarge). Memory is bounded by what arrives between two
        loop trips, as curl gives no back-pressure."""
        pool = self._get_pool()
        deadline = pool.loop.time() + timeout
        limits = (0, int(timeout * 1000), 0, 0)
        proxy = self.cfg.pick_resource_proxy()
        tr = await self._start_buffered(pool, request, proxy, limits, deadline, timeout)
        received = 0
        try:
            while True:
                data = tr.take()
                if data and tr.status == 200:
                    received += len(data)
                    if max_bytes and received > max_bytes:
                        raise DownloadTooLarge(max_bytes)
                    await sink(data)
                if tr.done and not tr.chunks:
                    break
                if not await tr.wait(deadline):
                    raise UpstreamTimeout("total", timeout)
        finally:
            tr.release()
        if tr.error is not None:
            raise transfer_error(tr.error, "total", timeout) from None
        return tr.status, parse_headers(tr.raw_headers)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
