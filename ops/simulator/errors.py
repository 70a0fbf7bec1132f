"""Error bodies grok.com answers with (HTTP errors and in-band stream errors),
pre-serialised once.

Bodies are `bytes` so handlers answer without re-encoding; the in-band variants are
dicts because chat.py composes them into frame lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": []}}


INVALID_CREDENTIALS = _error(16, "Invalid credentials [WKE=unauthorized:invalid-credentials]")
BLOCKED_USER = _error(7, "User is blocked [WKE=unauthorized:blocked-user]")
EMAIL_REJECTED = _error(7, "Email domain rejected [WKE=account:email-domain-rejected]")
BAD_CREDENTIALS = _error(16, "Bad credentials [WKE=unauthenticated:bad-credentials]")
#: The blocked user as grok.com's console-style endpoints say it: the code at the top level.
BLOCKED_USER_FLAT = {"code": "unauthorized:blocked-user", "error": "User is blocked"}
# Key order as seen on the wire: message first.
ANTI_BOT = {"error": {"message": "Request rejected by anti-bot rules.", "code": 7, "details": []}}
TOO_MANY_REQUESTS = _error(8, "Too many requests")
INTERNAL = _error(13, "internal")
CONTENT_MODERATED = {"error": {"code": "content-moderated", "message": "rejected"}}
USAGE_LIMIT_MESSAGE = "You've reached your usage limit. Please try again later."

#: Cloudflare's interstitial: what every grok.com path answers without a valid clearance.
CLOUDFLARE_HTML = (
    b"<!doctype html><html><head><title>Just a moment...</title></head><body>"
    b'<div id="challenge-platform">Checking your browser before accessing grok.com.</div>'
    b"<script>window.__cf_chl_opt={cType:'managed'};</script></body></html>"
)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A complete non-stream HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: dict[str, Any]) -> ErrorReply:
    return ErrorReply(status, orjson.dumps(payload))


def bad_request(message: str) -> ErrorReply:
    """400 with gRPC INVALID_ARGUMENT (3)."""
    return json_reply(400, _error(3, message))


REPLY_INVALID_CREDENTIALS = json_reply(401, INVALID_CREDENTIALS)
REPLY_BLOCKED = json_reply(403, BLOCKED_USER)
REPLY_EMAIL_REJECTED = json_reply(403, EMAIL_REJECTED)
REPLY_ANTI_BOT = json_reply(403, ANTI_BOT)
REPLY_TOO_MANY = json_reply(429, TOO_MANY_REQUESTS)
REPLY_CLOUDFLARE = ErrorReply(
    403,
    CLOUDFLARE_HTML,
    "text/html",
    {"Server": "cloudflare", "CF-Ray": "8f0000000000sim-LAX", "Cache-Control": "no-cache"},
)

#: HTTP-level faults (answered before any stream starts). Names are the public fault ids.
HTTP_FAULT_REPLIES: dict[str, ErrorReply] = {
    "401": REPLY_INVALID_CREDENTIALS,
    "403_antibot": REPLY_ANTI_BOT,
    "403_blocked": REPLY_BLOCKED,
    "403_blocked_flat": json_reply(403, BLOCKED_USER_FLAT),
    "403_email_rejected": REPLY_EMAIL_REJECTED,
    "401_bad_credentials": json_reply(401, BAD_CREDENTIALS),
    "403_cloudflare": REPLY_CLOUDFLARE,
    "403_empty": ErrorReply(403, b"", "text/plain"),
    "403_policy": json_reply(403, CONTENT_MODERATED),
    "429": REPLY_TOO_MANY,
    "500": json_reply(500, _error(13, "Internal server error")),
    "502": json_reply(502, _error(14, "Bad gateway")),
    "503": json_reply(503, _error(14, "Service unavailable")),
}
