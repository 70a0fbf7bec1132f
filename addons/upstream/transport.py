"""The REST chat transport: one pooled curl_cffi AsyncSession with browser impersonation.

Known traps handled here (ARCHITECTURE.md):
* 2 — `Response.aclose()` awaits the whole body. We never call it: `CurlStream.aclose()`
  cancels the response's stream task (and the curl future), which makes curl_cffi's own
  done-callback remove the easy handle from the multi handle and return it to the pool.
* 4 — `max_clients` is sized by the caller.
* 5 — curl stream timeouts are stall timeouts only: first-byte, idle and total timeouts
  are enforced here with `asyncio.timeout`.
* 6 — HTTP/1.1 is pinned for plain `http://` upstreams (the simulator).

curl_cffi offers no handle on the transfer while `request(stream=True)` is still waiting
for the first body byte; cancelling it there would leave the transfer running. We record
the curl future created by `AsyncCurl.add_handle` (via a ContextVar, in the caller's own
task) so a first-byte timeout or a cancellation can abort the transfer too.
"""
from __future__ import annotations

import asyncio
import contextvars
from typing import Any, get_args

import orjson
from curl_cffi import CurlError, CurlHttpVersion, CurlOpt
from curl_cffi.aio import AsyncCurl
from curl_cffi.requests import AsyncSession
from curl_cffi.requests import exceptions as curl_exc
from curl_cffi.requests.impersonate import BrowserTypeLiteral

from addons.flow import UpstreamRequest
from addons.upstream.base import Timeouts, TransportError, UpstreamStream, UpstreamTimeout
from addons.upstream.config import UpstreamConfig
from addons.upstream.curl_stream import CurlStream, curl_error_message, lower_headers
from addons.upstream.headers import ACCEPT_ENCODING

__all__ = ["CurlStream", "CurlTransport", "UpstreamStream", "resolve_impersonate"]

_FALLBACK_BROWSERS = ("chrome136", "chrome120")
_HANDLE: contextvars.ContextVar[list[asyncio.Future[Any]] | None] = contextvars.ContextVar(
    "grok_upstream_curl_future", default=None
)


def resolve_impersonate(browser: str) -> str:
    """`browser` if this curl_cffi knows it, else chrome136, else chrome120."""
    known = set(get_args(BrowserTypeLiteral))
    for name in (browser, *_FALLBACK_BROWSERS):
        if name and name in known:
            return name
    return "chrome"


class _TrackingAsyncCurl(AsyncCurl):
    """Records the future of each handle added from a task that asked for it."""

    def add_handle(self, curl: Any) -> asyncio.Future[Any]:
        future = super().add_handle(curl)
        holder = _HANDLE.get()
        if holder is not None:
            holder.append(future)
        return future


def _abort(holder: list[asyncio.Future[Any]]) -> None:
    """Cancel a transfer still waiting for its first byte; curl_cffi then frees the handle."""
    for future in holder:
        if not future.done():
            future.cancel()


def _body(req: UpstreamRequest) -> bytes | None:
    if req.json is None:
        return None
    return orjson.dumps(req.json)


class CurlTransport:
    """`ChatTransport` over curl_cffi. Create inside the running loop's lifetime;
    the curl session itself is built lazily on first use."""

    def __init__(self, cfg: UpstreamConfig, max_clients: int = 64) -> None:
        self.cfg = cfg
        self.max_clients = max(1, int(max_clients))
        self.impersonate = resolve_impersonate(cfg.browser)
        self._session: AsyncSession[Any] | None = None
        self._acurl: _TrackingAsyncCurl | None = None

    def _get_session(self) -> AsyncSession[Any]:
        if self._session is None:
            self._acurl = _TrackingAsyncCurl()
            kwargs: dict[str, Any] = {
                "async_curl": self._acurl,
                "max_clients": self.max_clients,
                "impersonate": self.impersonate,
                "verify": not self.cfg.skip_ssl_verify,
                "discard_cookies": True,  # never mix Set-Cookie between accounts
                "trust_env": False,  # proxies come from the settings only
                "allow_redirects": False,
            }
            if self.cfg.http1_only:
                kwargs["http_version"] = "v1"
                # applied after impersonation, which would otherwise re-enable HTTP/2
                kwargs["curl_options"] = {CurlOpt.HTTP_VERSION: CurlHttpVersion.V1_1}
            self._session = AsyncSession(**kwargs)
        return self._session

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> CurlStream:
        """Send; return once the status (and the first body byte, or the end) is known."""
        session = self._get_session()
        loop = asyncio.get_running_loop()
        started = loop.time()
        holder: list[asyncio.Future[Any]] = []
        token = _HANDLE.set(holder)
        try:
            async with asyncio.timeout(timeouts.first_byte):
                rsp = await session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=_body(request),
                    stream=True,
                    # curl's own stall guard only; the app-level timeouts fire first
                    timeout=(timeouts.connect, timeouts.first_byte + timeouts.idle),
                    proxy=self.cfg.pick_proxy(),
                    accept_encoding=ACCEPT_ENCODING,
                )
        except TimeoutError:
            _abort(holder)
            raise UpstreamTimeout("first_byte", timeouts.first_byte) from None
        except asyncio.CancelledError:
            _abort(holder)
            raise
        except curl_exc.Timeout:
            raise UpstreamTimeout("first_byte", timeouts.connect) from None
        except CurlError as exc:
            raise TransportError(curl_error_message(exc)) from None
        finally:
            _HANDLE.reset(token)
        return CurlStream(rsp, holder[0] if holder else None, timeouts, started)

    async def request(
        self, request: UpstreamRequest, timeout: float = 30.0, *, allow_redirects: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        """A short, fully buffered call. Returns (status, lower-cased headers, body)."""
        session = self._get_session()
        try:
            async with asyncio.timeout(timeout):
                rsp = await session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=_body(request),
                    timeout=timeout,
                    proxy=self.cfg.pick_proxy(),
                    accept_encoding=ACCEPT_ENCODING,
                    allow_redirects=allow_redirects,
                )
        except (TimeoutError, curl_exc.Timeout):
            raise UpstreamTimeout("total", timeout) from None
        except CurlError as exc:
            raise TransportError(curl_error_message(exc)) from None
        return rsp.status_code, lower_headers(rsp.headers), rsp.content

    async def aclose(self) -> None:
        session, acurl = self._session, self._acurl
        self._session = self._acurl = None
        if session is not None:
            await session.close()
        if acurl is not None:
            await acurl.close()
