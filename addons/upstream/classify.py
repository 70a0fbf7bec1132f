"""Classify grok.com error replies without echoing secrets (docs/upstream.md, "Failures").

`failure_kind` names what a failed try says and about whom: the account (rate limited,
credentials), the request (rejected, forbidden), or grok.com and the egress as a whole (server
error, connection, timeout, a Cloudflare challenge, an anti-bot refusal). The retry addon
penalises an account only for the first group; the circuit breaker counts the last; clients
get a message built from the kind and the status, never the upstream's own text.

grok.com says three different things with a 403, told apart here: a Cloudflare interstitial
(an HTML page: the egress's clearance cookie is missing, stale or bound to another IP or user
agent), an anti-bot refusal (JSON `code 7` "Request rejected by anti-bot rules": the
`x-statsig-id` or the browser fingerprint was refused), and an account code (`[WKE=…]`
markers such as `unauthorized:blocked-user`: the account itself is dead).
"""
from __future__ import annotations

import html
import re
from typing import Mapping

from addons.events import EMPTY_RESPONSE, STALE_MEDIA, UpstreamFailure
from addons.upstream.base import TransportError, UpstreamTimeout

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
_ANTI_BOT_MARKERS = ("anti-bot", "antibot", "anti_bot")
#: grok.com's account and auth codes, `[WKE=unauthorized:blocked-user]`; the console-style
#: body carries the same code as `"code":"unauthorized:blocked-user"`.
_WKE_CODE = re.compile(r"WKE=([a-z][a-z0-9_-]*:[a-z0-9_.-]+)", re.I)
_CONSOLE_CODE = re.compile(r'"code"\s*:\s*"((?:unauthorized|unauthenticated|account):[a-z0-9_.-]+)"',
                           re.I)

# ---- failure kinds (`failure_kind`) ----------------------------------------------------
#: 429, an in-band rate-limit error (gRPC 8) or the usage-limit answer: about the account's
#: quota of that mode (or, on many accounts at once, about the egress).
RATE_LIMITED = "rate_limited"
#: An invalid-credential marker on 400/401/403: the account is dead.
CREDENTIALS = "credentials"
#: A plain 401: the account is refused.
UNAUTHORIZED = "unauthorized"
#: A Cloudflare interstitial (an HTML page): about the egress's clearance (IP, cookie, agent).
CHALLENGE = "challenge"
#: An anti-bot refusal (JSON or in-band `code 7`): about the request's fingerprint headers
#: (`x-statsig-id`), so about the egress, not the account.
ANTI_BOT = "anti_bot"
#: Another 403 (a content policy, an empty body): about the request.
FORBIDDEN = "forbidden"
#: Another 4xx, or an in-band error whose gRPC code blames the request.
REJECTED = "rejected"
#: An upstream 5xx or an in-band internal error.
SERVER_ERROR = "server_error"
#: The connection failed or broke (refused, reset, cut mid-stream, truncated).
CONNECTION = "connection"
#: No first byte, a stalled stream, or the total time used up.
TIMEOUT = "timeout"
#: A 200 that carried nothing (the pipeline's `EMPTY_RESPONSE`).
EMPTY = "empty"
#: A media file the account already returned for another prompt (`STALE_MEDIA`).
STALE = "stale"

#: `UpstreamFailure.code` of a failure the transport raised (no HTTP status came back).
TRANSPORT_CODE = "transport"
TIMEOUT_CODE = "timeout"

#: gRPC status codes of in-band errors that blame the request, not grok.com: invalid
#: argument, not found, already exists, failed precondition, out of range.
_REQUEST_GRPC_CODES = frozenset({3, 5, 6, 9, 11})
_GRPC_CODE = re.compile(r'"code"\s*:\s*(\d{1,2})\b')

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


def account_code(body: str) -> str | None:
    """grok.com's own code for an account or auth refusal (`unauthorized:blocked-user`,
    `account:email-domain-rejected`, `unauthenticated:bad-credentials` …), lower-cased, from a
    `[WKE=…]` marker or a console-style `"code"`; None when the body carries none."""
    if not body:
        return None
    head = body[:65536]
    found = _WKE_CODE.search(head) or _CONSOLE_CODE.search(head)
    return found.group(1).lower() if found else None


def account_reason(failure: UpstreamFailure) -> tuple[str, str]:
    """Why a `CREDENTIALS` failure expires its account: (the reason kept as the account's
    state, the last error as the operator reads it). The reason is the invalid-credential
    marker (`blocked-user`, `email-domain-rejected`, `bad-credentials` …), the same whichever
    call found it; the last error adds the status and grok.com's full code when it sent one
    (`403 unauthorized:blocked-user`)."""
    text = f"{failure.message} {failure.body}"
    marker = invalid_credentials_marker(text) or CREDENTIALS
    code = account_code(text)
    return marker, f"{failure.status} {code or marker}"


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


def _grpc_code(body: str) -> int | None:
    """The numeric `code` of the first error object in a JSON error body or in-band frame
    (top-level `error`, `result.response.error`, `streamErrors`, mgw events alike)."""
    found = _GRPC_CODE.search(body[:4096]) if body else None
    return int(found.group(1)) if found else None


def failure_kind(failure: UpstreamFailure) -> str:
    """What a failed try says, from its status, its code and its body (module docstring)."""
    status, code = failure.status, failure.code
    if code == EMPTY_RESPONSE:
        return EMPTY
    if code == STALE_MEDIA:
        return STALE
    if code == TIMEOUT_CODE or status in (408, 504):
        return TIMEOUT
    if code == TRANSPORT_CODE:
        return CONNECTION
    body = failure.body or ""
    text = f"{failure.message} {body[:65536]}".lower()
    if status in (403, 429, 503) and is_cloudflare_challenge(status, None, body):
        return CHALLENGE
    if status == 429:
        return RATE_LIMITED
    if status in (400, 401, 403) and invalid_credentials_marker(text):
        return CREDENTIALS
    if status == 401:
        return UNAUTHORIZED
    if any(m in text for m in _ANTI_BOT_MARKERS):
        return ANTI_BOT
    grpc = _grpc_code(body)
    if status == 403:
        # a JSON `code 7` (permission denied) with no account marker is the anti-bot refusal;
        # a moderation code, another body or none at all is about the request
        return ANTI_BOT if grpc == 7 else FORBIDDEN
    if status >= 500:
        if grpc == 7:  # in-band permission denied: the anti-bot rules, not an outage
            return ANTI_BOT
        if grpc == 16:  # unauthenticated: not an outage
            return FORBIDDEN
        if grpc in _REQUEST_GRPC_CODES:
            return REJECTED
        return SERVER_ERROR
    return REJECTED


def transport_failure(exc: TransportError) -> UpstreamFailure:
    """The failure of a try whose transport raised: a timeout (504) or a broken connection
    (502), tagged so that neither is mistaken for an HTTP answer of grok.com."""
    if isinstance(exc, UpstreamTimeout):
        return UpstreamFailure(504, str(exc), code=TIMEOUT_CODE)
    return UpstreamFailure(502, str(exc), code=TRANSPORT_CODE)


def call_failure(exc: UpstreamHTTPError | TransportError, what: str) -> UpstreamFailure:
    """The failure of a try whose preparatory call (`what`: an upload, a media post) failed:
    grok.com's answer to it, or the transport's failure, classified like the try's own."""
    if isinstance(exc, UpstreamHTTPError):
        return UpstreamFailure(exc.status, f"{what} failed: {exc.body}", exc.body)
    failure = transport_failure(exc)
    failure.message = f"{what} failed: {failure.message}"
    return failure


def sanitize(text: str) -> str:
    """Replace cookie values, auth headers, URL credentials and JWT-like tokens."""
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html|head|body)\b", re.I)
_HTML_DROP = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|$)", re.I | re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


def _html_text(page: str) -> str:
    """The visible text of an HTML page (an error page of grok.com or Cloudflare), without
    its markup, scripts and styles: what a person reading the log needs of it."""
    return "[html] " + html.unescape(_HTML_TAG.sub(" ", _HTML_DROP.sub(" ", page)))


def excerpt(body: str | bytes, limit: int = 200) -> str:
    """A one-line, sanitised, length-limited excerpt of an upstream body for the log. An HTML
    page is reduced to its text first, so the excerpt says something within the limit."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[: limit * 40]).decode("utf-8", "replace")
    body = body or ""
    if _HTML_START.match(body[:512]):
        body = _html_text(body[: limit * 40])
    text = " ".join(sanitize(body[: limit * 8]).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
