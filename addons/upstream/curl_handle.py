"""One pooled curl easy handle, configured once (see curl_pool.py for the pool).

`AsyncSession.request` rebuilds every option of a handle on every call (reset,
impersonation, ~20 setopts, Headers objects, the cookie engine). Here a handle is configured
once — impersonation, the HTTP/1.1 pin for plain http:// (after the impersonation, which
re-enables HTTP/2), TLS verification, no redirects, Accept-Encoding, the write/header
callbacks — and a request sets only what changes: URL, method/body, the header lines, and
the proxy and curl-level timeouts when they differ from the handle's previous request.
`curl.reset()` is never called (it would drop the impersonation).

The callbacks are curl_cffi's own trampolines; their `_CallbackContext.callback` is swapped
to the current transfer's methods, so a chunk costs one Python call. No cookie engine is
ever enabled: a Set-Cookie is never stored, the Cookie header is sent as given.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from curl_cffi import Curl, CurlError, CurlHttpVersion, CurlOpt
from curl_cffi._wrapper import ffi, lib
from curl_cffi.requests.impersonate import resolve_latest_browser_type
from curl_cffi.requests.utils import requote_uri

if TYPE_CHECKING:  # pragma: no cover
    from addons.upstream.curl_pool import Transfer

CURL_WRITEFUNC_ERROR = 0xFFFFFFFF
_SAFE_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]*")
_LONGS: dict[int, Any] = {}
_EMPTY = b""


def _long(value: int) -> Any:
    """A `long*` for `_curl_easy_setopt` (libcurl copies the value; reuse the cdata)."""
    ptr = _LONGS.get(value)
    if ptr is None:
        ptr = ffi.new("long*", value)
        if len(_LONGS) < 256:  # timeouts and flags repeat; body sizes mostly do not
            _LONGS[value] = ptr
    return ptr


#: CURLOPT_UPLOAD_BUFFERSIZE (libcurl's default 64 KiB) is allocated for every transfer that
#: sends a body and held while it runs, however small the body: a chat's few kB get libcurl's
#: smallest, 16 KiB (at 1,000 open streams, 47 MiB less). Larger bodies (uploads) keep the
#: default: over loopback a 16 MiB upload ran at ~500 MiB/s with 16 KiB, ~900 with 32 KiB
#: and ~1,300 with 64 KiB.
UPLOAD_BUFFER = 16 * 1024
UPLOAD_BUFFER_LARGE = 64 * 1024
#: bodies up to this size are sent through the small buffer
SMALL_BODY = 64 * 1024


class PooledCurl(Curl):
    """A `Curl` without the WebSocket receive buffer that curl_cffi allocates (128 KiB,
    zero-filled) in every constructor: pooled handles only speak HTTP, and 1,000 open streams
    would hold 125 MiB of it. The WebSocket transports (mgw, imagine) open their sockets on
    an `AsyncSession` of their own, whose handles are plain `Curl`s and keep it.

    `_WS_RECV_BUFFER_SIZE` is a private class attribute of curl_cffi; tests/addons/upstream/
    test_curl_handle.py fails if the library stops reading it."""

    _WS_RECV_BUFFER_SIZE = 0

    def ws_recv(self) -> Any:  # pragma: no cover - a programming error, not a path
        raise CurlError("a pooled HTTP handle has no WebSocket receive buffer")


def _refuse(_data: bytes) -> int:
    """The callback of an idle handle: abort anything that still arrives."""
    return CURL_WRITEFUNC_ERROR


def header_lines(headers: Mapping[str, str | None], has_body: bool) -> list[bytes]:
    """The HTTPHEADER lines exactly as curl_cffi builds them (empty value → `Name;`, None →
    `Name:` to drop a default header), plus a default Content-Type and no `Expect`."""
    lines: list[str] = []
    content_type = False
    for key, value in headers.items():
        if value is None:
            lines.append(f"{key}:")
        elif value == "":
            lines.append(f"{key};")
        else:
            lines.append(f"{key}: {value}")
        low = key.lower()
        if low == "content-type":
            content_type = True
        elif low == "expect":
            lines.pop()
    if has_body and not content_type:
        lines.append("Content-Type: application/octet-stream")
    lines.append("Expect: ")
    return [line.encode() for line in lines]


def parse_headers(lines: list[bytes]) -> dict[str, str]:
    """Raw response header lines of the last response → lower-cased keys, repeats joined."""
    out: dict[str, str] = {}
    last = ""
    for raw in lines:
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            line = raw.decode("latin-1").rstrip("\r\n")
        if line[:1] in (" ", "\t"):
            if last:
                out[last] = (out[last] + line).strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.lower()
        value = value.strip()
        out[key] = f"{out[key]}, {value}" if key in out else value
        last = key
    return out


class EasyHandle:
    """One easy handle, configured once."""

    __slots__ = ("curl", "transfer", "idle_since", "_wctx", "_hctx", "_body", "_proxy", "_limits",
                 "_method", "_upload_buffer")

    def __init__(self, cacert: str, target: str, http1: bool, verify: bool,
                 accept_encoding: str) -> None:
        c = self.curl = PooledCurl(cacert=cacert)
        try:
            c.setopt(CurlOpt.ACCEPT_ENCODING, accept_encoding)
            c.setopt(CurlOpt.UPLOAD_BUFFERSIZE, UPLOAD_BUFFER)
            self._upload_buffer = UPLOAD_BUFFER
            c.setopt(CurlOpt.MAXREDIRS, 30)
            if not verify:
                c._skip_cacert = True
                c.setopt(CurlOpt.SSL_VERIFYPEER, 0)
                c.setopt(CurlOpt.SSL_VERIFYHOST, 0)
            if http1:
                c.setopt(CurlOpt.HTTP_VERSION, CurlHttpVersion.V1_1)
            if c.impersonate(resolve_latest_browser_type(target), default_headers=True) != 0:
                raise CurlError(f"impersonating {target} is not supported")
            if http1:  # after the impersonation, which would re-enable HTTP/2
                c.setopt(CurlOpt.HTTP_VERSION, CurlHttpVersion.V1_1)
            c.setopt(CurlOpt.WRITEFUNCTION, _refuse)
            c.setopt(CurlOpt.HEADERFUNCTION, _refuse)
            c._ensure_cacert()
        except BaseException:
            c.close()
            raise
        self._wctx = ffi.from_handle(c._write_handle)
        self._hctx = ffi.from_handle(c._header_handle)
        self.transfer: Transfer | None = None
        self.idle_since = 0.0  # loop time it went back to the pool (the pool's trimming)
        self._body: bytes | None = None
        self._proxy: tuple[str | None, bool] = (None, False)
        self._limits: tuple[int, int, int, int] = (-1, -1, -1, -1)
        self._method: tuple[str, bool] = ("GET", False)

    @property
    def poisoned(self) -> bool:
        """A callback raised (curl_cffi keeps that error and would fail every later transfer)."""
        return self._wctx.exception is not None or self._hctx.exception is not None

    def prepare(self, tr: Transfer, method: str, url: str, lines: list[bytes],
                body: bytes | None, proxy: str | None, limits: tuple[int, int, int, int]) -> None:
        """Per-request options. The handle is not in the multi handle here."""
        h = self.curl._curl
        setopt = lib._curl_easy_setopt
        if not _SAFE_URL.fullmatch(url):
            url = requote_uri(url)
        if setopt(h, CurlOpt.URL, url.encode()) != 0:
            raise CurlError("the upstream URL was refused", code=3)  # CURLE_URL_MALFORMAT
        method = method.upper()
        has_body = body is not None or method in ("POST", "PUT", "PATCH")
        if (method, has_body) != self._method:
            if self._method[0] not in ("GET", "POST"):
                setopt(h, CurlOpt.CUSTOMREQUEST, ffi.NULL)
                setopt(h, CurlOpt.NOBODY, _long(0))
            if method == "HEAD":
                setopt(h, CurlOpt.NOBODY, _long(1))
            elif not has_body:
                setopt(h, CurlOpt.HTTPGET, _long(1))
            if method not in ("GET", "POST"):
                setopt(h, CurlOpt.CUSTOMREQUEST, method.encode())
            elif method == "GET" and has_body:
                setopt(h, CurlOpt.CUSTOMREQUEST, b"GET")
                method = "GET+body"  # so that the next request resets CUSTOMREQUEST
            self._method = (method, has_body)
        if has_body:
            data = body or b""
            self._body = data  # libcurl does not copy POSTFIELDS: keep it alive
            setopt(h, CurlOpt.POSTFIELDSIZE, ffi.new("long*", len(data)))
            setopt(h, CurlOpt.POSTFIELDS, data)
            upload_buffer = UPLOAD_BUFFER if len(data) <= SMALL_BODY else UPLOAD_BUFFER_LARGE
            if upload_buffer != self._upload_buffer:
                setopt(h, CurlOpt.UPLOAD_BUFFERSIZE, _long(upload_buffer))
                self._upload_buffer = upload_buffer
        slist = ffi.NULL
        for line in lines:
            slist = lib.curl_slist_append(slist, line)
        setopt(h, CurlOpt.HTTPHEADER, slist)
        old, self.curl._headers = self.curl._headers, slist  # Curl.close() frees the last one
        if old != ffi.NULL:
            lib.curl_slist_free_all(old)
        https = url.startswith("https:")
        if (proxy, https) != self._proxy:
            self._set_proxy(proxy, https)
        if limits != self._limits:
            connect_ms, total_ms, low_speed_time, follow = limits
            setopt(h, CurlOpt.CONNECTTIMEOUT_MS, _long(connect_ms))
            setopt(h, CurlOpt.TIMEOUT_MS, _long(total_ms))
            setopt(h, CurlOpt.LOW_SPEED_LIMIT, _long(1 if low_speed_time else 0))
            setopt(h, CurlOpt.LOW_SPEED_TIME, _long(low_speed_time))
            setopt(h, CurlOpt.FOLLOWLOCATION, _long(follow))
            self._limits = limits
        self.transfer = tr
        self._wctx.callback = tr.on_body
        self._hctx.callback = tr.on_header

    def _set_proxy(self, proxy: str | None, https: bool) -> None:
        h = self.curl._curl
        setopt = lib._curl_easy_setopt
        if proxy:
            setopt(h, CurlOpt.PROXY_CREDENTIAL_NO_REUSE, _long(1))
            setopt(h, CurlOpt.PROXY, proxy.encode())
            tunnel = https and not proxy.startswith("socks")
            setopt(h, CurlOpt.HTTPPROXYTUNNEL, _long(1 if tunnel else 0))
        else:  # back to libcurl's default, as a freshly reset handle had it
            setopt(h, CurlOpt.PROXY, ffi.NULL)
            setopt(h, CurlOpt.HTTPPROXYTUNNEL, _long(0))
            setopt(h, CurlOpt.PROXY_CREDENTIAL_NO_REUSE, _long(0))
        self._proxy = (proxy, https)

    def detach(self) -> None:
        """Out of the multi handle: unhook the transfer; release its body (an idle handle
        pins no request: 1,000 idle handles after a burst held ~8 MB of chat bodies)."""
        self.transfer = None
        self._wctx.callback = _refuse
        self._hctx.callback = _refuse
        if self._body is not None:
            # libcurl does not copy POSTFIELDS: point it at a constant before the body goes;
            # POSTFIELDS leaves curl in POST mode
            lib._curl_easy_setopt(self.curl._curl, CurlOpt.POSTFIELDSIZE, _long(0))
            lib._curl_easy_setopt(self.curl._curl, CurlOpt.POSTFIELDS, _EMPTY)
            self._body = None
            self._method = (self._method[0], True)
