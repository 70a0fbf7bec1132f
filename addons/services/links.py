"""Public links to what the gateway serves itself (the cached media files).

The base is `app.app_url` when set. Otherwise it is the request's own origin: its
`X-Forwarded-Proto` / `X-Forwarded-Host` (what a hosting proxy such as Render's sets, so such
a deploy needs no configuration), else its `Host` and the connection's scheme.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import urlencode

from state.options import Loader

__all__ = ["file_link", "load", "normalise_app_url", "public_base"]

log = logging.getLogger(__name__)

# a host, optionally with a port (IPv6 in brackets): nothing that could break out of a URL
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_warned: set[str] = set()


def load(loader: Loader) -> None:
    loader.add_option("app.app_url", str, "",
                      "Public base URL of this gateway (e.g. `https://api.example.com`), used "
                      "in links to cached media files. Empty: the request's own origin "
                      "(`X-Forwarded-Proto` / `X-Forwarded-Host`, else `Host`). A trailing "
                      "`/` or `/v1` is removed.")


def normalise_app_url(value: str) -> str:
    """`value` without trailing slashes and without a trailing `/v1` (a common mistake: the
    links add `/v1/...` themselves); warns once per value when it had to cut."""
    url = (value or "").strip()
    cut = url.rstrip("/")
    if cut.lower().endswith("/v1"):
        cut = cut[:-3].rstrip("/")
    if cut != url and url not in _warned:
        _warned.add(url)
        log.warning("app.app_url %r ends with a slash or /v1; using %r (links add /v1/... "
                    "themselves)", url, cut)
    return cut


def _first(value: str | None) -> str:
    """The first entry of a comma-separated forwarded header (the client-side proxy's)."""
    return (value or "").split(",", 1)[0].strip()


def public_base(app_url: str, headers: Mapping[str, str], scheme: str = "http") -> str:
    """The origin links start with, without a trailing slash."""
    configured = normalise_app_url(app_url)
    if configured:
        return configured
    proto = _first(headers.get("x-forwarded-proto")).lower()
    if proto not in ("http", "https"):
        proto = scheme if scheme in ("http", "https") else "http"
    for host in (_first(headers.get("x-forwarded-host")), (headers.get("host") or "").strip()):
        if host and _HOST.fullmatch(host):
            return f"{proto}://{host}"
    return f"{proto}://localhost"


def file_link(base: str, kind: str, media_id: str) -> str:
    """The link that serves a cached `kind` file."""
    return f"{base}/v1/files/{kind}?{urlencode({'id': media_id})}"
