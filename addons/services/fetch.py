"""Client media for upload: data URIs decoded, http(s) URLs fetched safely.

The URL fetcher is deliberately a separate, plain aiohttp client, never the grok.com transport:
it carries no account cookie, no anti-bot header and no configured proxy, keeps no cookies
between hops, and connects only to addresses the policy allows (public unicast by default).
Every address a host name resolves to is checked inside the connector's resolver, so the
connection goes to an address that was checked (no DNS-rebinding gap); literal IPs, which
aiohttp does not resolve, are checked before each hop. Redirects are followed by hand, each
hop checked again.
"""
from __future__ import annotations

import asyncio
import binascii
import ipaddress
import mimetypes
import re
import socket
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]

USER_AGENT = "grok2api-media-fetch/1"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_WHITESPACE = {ord(c): None for c in " \t\r\n\f\v"}


class MediaError(Exception):
    """Client media that cannot be used; the message says why (shown to the client)."""


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    mime: str
    name: str


# ---- data URIs ----------------------------------------------------------------------

def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def shown_url(url: str, limit: int = 160) -> str:
    """`url` as an error message may show it: no `user:password@`, no query string or
    fragment (signed URLs carry their secrets there), at most `limit` characters."""
    bare = re.split(r"[?#]", url, maxsplit=1)[0]
    return _USERINFO.sub(r"\1", bare)[:limit]


#: `scheme://user:password@` (everything up to the last `@` of the authority).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@")


def is_http_url(value: str) -> bool:
    low = value[:8].lower()
    return low.startswith("http://") or low.startswith("https://")


def name_for(mime: str, default_stem: str = "file") -> str:
    """The upload file name `file.<subtype>`; `file.bin` without a subtype."""
    subtype = mime.split("/", 1)[1] if "/" in mime else ""
    subtype = subtype.split("+", 1)[0].strip().lower()
    if not subtype or subtype == "octet-stream":
        subtype = "bin"
    return f"{default_stem}.{subtype}"


def split_data_uri(uri: str) -> tuple[str, str | None, str]:
    """(mime, name parameter or None, base64 payload) of `data:<mime>[;name=x];base64,<payload>`.

    Checks the shape only (cheap, for the parsers); `decode_data_uri` checks the payload."""
    if not is_data_uri(uri):
        raise MediaError("File input must be a URL or data URI")
    header, sep, payload = uri[5:].partition(",")
    params = [p.strip() for p in header.split(";")]
    if not sep or len(params) < 2 or params[-1].lower() != "base64":
        raise MediaError("data URI must be base64-encoded: data:<mime>;base64,<payload>")
    if not payload or payload.isspace():
        raise MediaError("data URI has an empty payload")
    mime = params[0].lower() or "application/octet-stream"
    name = None
    for param in params[1:-1]:
        key, _, value = param.partition("=")
        if key.strip().lower() in ("name", "filename") and value.strip():
            name = unquote(value.strip().strip('"'))
    return mime, name, payload


def decode_data_uri(uri: str, max_bytes: int) -> Media:
    """Decode a data URI; whitespace in the payload is ignored, missing padding tolerated."""
    mime, name, payload = split_data_uri(uri)
    text = payload.translate(_WHITESPACE)
    if len(text) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"is larger than the {max_bytes} byte limit")
    text += "=" * (-len(text) % 4)
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MediaError("data URI payload is not valid base64") from None
    if not data:
        raise MediaError("data URI has an empty payload")
    if len(data) > max_bytes:
        raise MediaError(f"is larger than the {max_bytes} byte limit")
    return Media(data, mime, name or name_for(mime))


# ---- address policy -----------------------------------------------------------------

def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public_address(ip: IPAddress) -> bool:
    """True for a globally routable unicast address: no loopback, private, link-local,
    multicast, reserved, unspecified or shared (CGNAT) address, also when wrapped in IPv6."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:  # the IPv4 host the connection would really reach decides
            return is_public_address(inner)
    return ip.is_global and not (ip.is_multicast or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_reserved or ip.is_unspecified)


def allow_any_address(ip: IPAddress) -> bool:
    """The policy for `attachments.allow_private_urls = true` (tests, trusted networks)."""
    return True


class AddressRefused(OSError):
    """A host resolved to an address the policy forbids (an OSError, so aiohttp wraps it)."""


class GuardedResolver(AbstractResolver):
    """Resolves with the threaded resolver and refuses the host if ANY address is forbidden."""

    def __init__(self, allowed: AddressPolicy) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for item in results:
            if not self._allowed(ipaddress.ip_address(item["host"])):
                raise AddressRefused(f"{host} resolves to a private or reserved address")
        return results

    async def close(self) -> None:
        await self._inner.close()


# ---- URL fetch ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 30.0
    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 3
    allowed: AddressPolicy = is_public_address


def _check_url(url: URL, allowed: AddressPolicy) -> None:
    if url.scheme not in ("http", "https") or not url.host:
        raise MediaError("must be an http(s) URL with a host")
    try:
        literal = ipaddress.ip_address(url.host.strip("[]"))
    except ValueError:
        return  # a host name: the resolver checks every address it resolves to
    if not allowed(literal):
        raise MediaError("points to a private or reserved address")


def _media_of(url: URL, content_type: str | None, data: bytes) -> Media:
    segment = unquote(url.path.rstrip("/").rsplit("/", 1)[-1]) if url.path else ""
    name = segment or "download"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Media(data, mime, name)


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused) or isinstance(getattr(seen, "os_error", None), AddressRefused):
            return True
        seen = seen.__cause__
    return False


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise MediaError(f"is larger than the {max_bytes} byte limit")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        buf += chunk
        if len(buf) > max_bytes:
            raise MediaError(f"is larger than the {max_bytes} byte limit")
    return bytes(buf)


async def fetch_url(url: str, limits: FetchLimits) -> Media:
    """GET `url` under `limits`; every failure is a MediaError with a client-safe reason."""
    try:
        current = URL(url)
    except (ValueError, TypeError):
        raise MediaError("is not a valid URL") from None
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(limits.allowed), use_dns_cache=False)
    session = aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=limits.timeout))
    try:
        async with session, asyncio.timeout(limits.timeout):
            for _ in range(limits.max_redirects + 1):
                _check_url(current, limits.allowed)
                async with session.get(current, allow_redirects=False) as resp:
                    if resp.status in REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise MediaError(f"answered a redirect ({resp.status}) without Location")
                        current = current.join(URL(location))
                        continue
                    if resp.status != 200:
                        raise MediaError(f"answered HTTP {resp.status}")
                    data = await _read_capped(resp, limits.max_bytes)
                    if not data:
                        raise MediaError("answered an empty body")
                    return _media_of(current, resp.headers.get("Content-Type"), data)
            raise MediaError(f"redirected more than {limits.max_redirects} times")
    except MediaError:
        raise
    except TimeoutError:
        raise MediaError(f"timed out after {limits.timeout:g}s") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        if _refused(exc):
            raise MediaError("points to a private or reserved address") from None
        raise MediaError(f"could not be fetched ({type(exc).__name__})") from None


#: data URIs longer than this are decoded in a worker thread (base64 of ~750 KiB and more)
_THREAD_DECODE_CHARS = 1 << 20


def limits_from(settings: Any, max_bytes: int | None = None) -> FetchLimits:
    """The fetch limits of the `[attachments]` settings (which every client file obeys);
    `max_bytes` lowers the size limit for one kind of file."""
    opts = settings.options.attachments
    return FetchLimits(
        timeout=opts.fetch_timeout,
        max_bytes=opts.max_file_bytes if max_bytes is None else min(opts.max_file_bytes, max_bytes),
        max_redirects=opts.max_redirects,
        allowed=allow_any_address if opts.allow_private_urls else is_public_address,
    )


async def resolve(url: str, limits: FetchLimits) -> Media:
    """A client's file as bytes: a data URI decoded (a large one off the loop) or a URL
    fetched within `limits`. Raises MediaError."""
    if is_data_uri(url):
        if len(url) > _THREAD_DECODE_CHARS:
            return await asyncio.to_thread(decode_data_uri, url, limits.max_bytes)
        return decode_data_uri(url, limits.max_bytes)
    return await fetch_url(url, limits)
