"""A FlareSolverr client: have a real browser pass grok.com's Cloudflare challenge through one
egress, and read back the cookies and the User-Agent of that browser.

FlareSolverr's API is one call: `POST <url>/v1` with
`{"cmd": "request.get", "url": <page>, "maxTimeout": <ms>, "proxy": {"url": …}}`, answered
with `{"status": "ok", "solution": {"cookies": [{"name", "value", …}], "userAgent": …}}`
(anything else is a failure, with a `message`). The browser must go out through the same
proxy as the requests that will carry its cookie, because Cloudflare binds the clearance to
the IP it was solved from; credentials in a proxy URL are passed as FlareSolverr's separate
`username` / `password`, since the browser cannot take them in the URL.

FlareSolverr is a sidecar the operator runs, plain HTTP and no browser fingerprint to keep, so
the call uses aiohttp (already a dependency) rather than the impersonating grok.com client.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from addons.upstream.clearance import KEPT_COOKIES

__all__ = ["Solution", "SolveError", "endpoint", "proxy_param", "solve"]

#: Extra seconds the HTTP call waits beyond the solve's own `maxTimeout` (browser start-up).
HTTP_MARGIN_SEC = 15.0
#: Cookie names and values a Cookie header can carry as they are (RFC 6265 token and
#: cookie-octets): anything else could break the header, so such a cookie is dropped.
_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE = re.compile(r'^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$')


class SolveError(Exception):
    """FlareSolverr could not be reached or did not solve the page; the message is safe to
    log (no cookie value)."""


@dataclass(frozen=True, slots=True)
class Solution:
    """What a solve gave: the cookie string to send (`name=value; …`, the account's own
    cookie names left out) and the User-Agent that must go with it."""

    cookies: str
    user_agent: str
    names: tuple[str, ...]

    @property
    def has_clearance(self) -> bool:
        return "cf_clearance" in self.names


def endpoint(url: str) -> str:
    """The `/v1` endpoint of a FlareSolverr base URL (`http://flaresolverr:8191`)."""
    base = url.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def proxy_param(proxy: str) -> dict[str, str]:
    """FlareSolverr's `proxy` object for a proxy URL: the credentials apart."""
    parts = urlsplit(proxy)
    if not parts.username and not parts.password:
        return {"url": proxy}
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    out = {"url": urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))}
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out


def _solution(data: Any) -> Solution:
    if not isinstance(data, dict):
        raise SolveError("FlareSolverr answered something other than a JSON object")
    if data.get("status") != "ok":
        message = str(data.get("message") or data.get("status") or "no status")[:200]
        raise SolveError(f"FlareSolverr did not solve the page: {message}")
    solution = data.get("solution")
    if not isinstance(solution, dict):
        raise SolveError("FlareSolverr answered without a solution")
    agent = solution.get("userAgent")
    if not isinstance(agent, str) or not agent.strip() or any(c in agent for c in "\r\n"):
        raise SolveError("FlareSolverr's solution has no usable userAgent")
    pairs: dict[str, str] = {}
    for cookie in solution.get("cookies") or []:
        if not isinstance(cookie, dict):
            continue
        name, value = cookie.get("name"), cookie.get("value")
        if (isinstance(name, str) and isinstance(value, str) and _NAME.match(name)
                and _VALUE.match(value) and name.lower() not in KEPT_COOKIES):
            pairs[name] = value  # a later cookie of the same name wins, as in a browser
    if not pairs:
        raise SolveError("FlareSolverr's solution has no cookies")
    cookies = "; ".join(f"{k}={v}" for k, v in pairs.items())
    return Solution(cookies, agent.strip(), tuple(pairs))


async def solve(flaresolverr_url: str, page: str, proxy: str | None, timeout: float) -> Solution:
    """Solve `page` through `proxy` (None: FlareSolverr's own connection) within `timeout`
    seconds. Raises SolveError."""
    body: dict[str, Any] = {"cmd": "request.get", "url": page,
                            "maxTimeout": int(max(1.0, timeout) * 1000)}
    if proxy:
        body["proxy"] = proxy_param(proxy)
    limit = aiohttp.ClientTimeout(total=max(1.0, timeout) + HTTP_MARGIN_SEC)
    try:
        async with aiohttp.ClientSession(timeout=limit, trust_env=False) as session:
            async with session.post(endpoint(flaresolverr_url), json=body) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    raise SolveError(f"FlareSolverr answered HTTP {resp.status} without JSON") \
                        from None
    except TimeoutError:
        raise SolveError(f"FlareSolverr did not answer within {limit.total:g} s") from None
    except aiohttp.ClientError as exc:
        raise SolveError(f"FlareSolverr could not be reached: {type(exc).__name__}") from None
    return _solution(data)
