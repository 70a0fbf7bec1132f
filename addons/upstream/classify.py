"""Classify grok.com error replies without echoing secrets (docs/upstream.md, "Error
classification")."""
from __future__ import annotations

import re
from typing import Mapping

#: Invalid-credential markers (case-insensitive substrings); they count only on 400/401/403.
INVALID_CREDENTIAL_MARKERS: tuple[str, ...] = (
    "invalid-credentials",
    "bad-credentials",
    "failed to look up session id",
    "blocked-user",
    "email-domain-rejected",
    "session not found",
    "account suspended",
    "token revoked",
    "token expired",
)
_CHALLENGE_MARKERS = ("just a moment", "challenge-platform", "__cf_chl", "cf-chl-")

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # cookie pairs whose values are credentials
    (re.compile(r"(?i)\b(sso|sso-rw|cf_clearance|__cf_bm|_cfuvid|cf_chl_[\w-]*|x-userid)=[^;\s\"',]*"),
     r"\1=<redacted>"),
    # header lines
    (re.compile(r"(?i)\b(cookie|set-cookie|authorization)\s*:\s*[^\r\n]*"), r"\1: <redacted>"),
    # credentials inside URLs (proxy://user:pass@host)
    (re.compile(r"(?<=//)[^/@\s]+(?=@)"), "<redacted>"),
    # JWT-like tokens
    (re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}(?:\.[\w-]+)?"), "<redacted>"),
)


class UpstreamHTTPError(Exception):
    """A short grok.com call (rate limits, upload …) answered with a non-success status.

    `body` is a sanitised excerpt; `marker` is the invalid-credential marker found, if any.
    """

    def __init__(self, status: int, body: str = "", marker: str | None = None) -> None:
        super().__init__(f"upstream HTTP {status}" + (f": {body}" if body else ""))
        self.status = status
        self.body = body
        self.marker = marker


def invalid_credentials_marker(body: str) -> str | None:
    """The first invalid-credential marker contained in `body`, else None."""
    if not body:
        return None
    low = body.lower()
    for marker in INVALID_CREDENTIAL_MARKERS:
        if marker in low:
            return marker
    return None


def is_cloudflare_challenge(status: int, headers: Mapping[str, str] | None, body: str) -> bool:
    """A Cloudflare interstitial (not an application error) on 403/429/503.

    grok.com always sits behind Cloudflare, so `Server: cloudflare` alone proves nothing:
    we need a challenge marker in the body, or a Cloudflare-served HTML page.
    """
    if status not in (403, 429, 503):
        return False
    low = (body or "")[:65536].lower()
    if any(m in low for m in _CHALLENGE_MARKERS):
        return True
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    server = str(hdrs.get("server", "")).lower()
    ctype = str(hdrs.get("content-type", "")).lower()
    stripped = low.lstrip()
    looks_html = "text/html" in ctype or stripped.startswith(("<!doctype html", "<html"))
    return server == "cloudflare" and looks_html


def sanitize(text: str) -> str:
    """Replace cookie values, auth headers, URL credentials and JWT-like tokens."""
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def excerpt(body: str | bytes, limit: int = 200) -> str:
    """A one-line, sanitised, length-limited excerpt of an upstream body for logs/errors."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[: limit * 8]).decode("utf-8", "replace")
    text = " ".join(sanitize((body or "")[: limit * 8]).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
