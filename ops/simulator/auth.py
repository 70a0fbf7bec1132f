"""Cookie, account-status and `x-statsig-id` checks (what the client sends:
docs/upstream.md, "Headers and cookies")."""
from __future__ import annotations

import base64
import binascii

from aiohttp import web

from ops.simulator.errors import (
    REPLY_ANTI_BOT,
    REPLY_BLOCKED,
    REPLY_EMAIL_REJECTED,
    REPLY_INVALID_CREDENTIALS,
    ErrorReply,
)
from ops.simulator.state import SimToken, SimulatorState


def parse_sso(cookie_header: str) -> tuple[str | None, str | None]:
    """(`sso`, `sso-rw`) values from a Cookie header (cheaper than SimpleCookie)."""
    sso: str | None = None
    rw: str | None = None
    if not cookie_header:
        return None, None
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "sso":
            sso = value
        elif name == "sso-rw":
            rw = value
    return sso, rw


def authenticate(state: SimulatorState, request: web.BaseRequest) -> tuple[SimToken | None, ErrorReply | None]:
    """The token of an authenticated request, or the error reply grok.com would give."""
    sso, rw = parse_sso(request.headers.get("Cookie", ""))
    if not sso or sso != rw:
        return None, REPLY_INVALID_CREDENTIALS
    sim = state.tokens.get(sso)
    if sim is None or sim.status == "expired":
        return None, REPLY_INVALID_CREDENTIALS
    if sim.status == "blocked":
        return None, REPLY_BLOCKED
    if sim.status == "email_rejected":
        return None, REPLY_EMAIL_REJECTED
    return sim, None


def _decodes_to_e_prefix(value: str) -> bool:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(b"e:")


def check_statsig(state: SimulatorState, request: web.BaseRequest) -> ErrorReply | None:
    """403 anti-bot for a missing value, and (strict mode) for the old `e:` fallback."""
    value = request.headers.get("x-statsig-id", "").strip()
    if not value:
        return REPLY_ANTI_BOT if state.require_statsig else None
    if state.strict_statsig and _decodes_to_e_prefix(value):
        return REPLY_ANTI_BOT
    return None
