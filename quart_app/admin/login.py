"""Logging in to the admin pages: the secret is checked once (throttled like every admin
secret) and traded for a session cookie (`quart_app.admin.sessions`).

`POST /admin/api/login` `{"app_key": "…"}` (the fork's `{"password": "…"}` too) answers
`{"status": "success", "setup_required": …}` and sets the cookie; `POST /admin/api/logout`
ends the session (with its CSRF token, like every state-changing page call).
"""
from __future__ import annotations

import hmac
import logging

from quart import Blueprint, Response, g, request

from addons.errors import ApiError, validation
from quart_app.admin.auth import (
    PREFIX, _refusal, admin_blueprint, caller_address, is_default_key, throttled,
)
from quart_app.admin.common import admin_state, json_response, read_json, services
from quart_app.admin.sessions import COOKIE, Session, is_https

__all__ = ["bp", "bp_logout", "set_session_cookie"]

log = logging.getLogger(__name__)

bp = Blueprint("admin_login", __name__, url_prefix=PREFIX)
bp_logout = admin_blueprint("logout", first_run=True)


def set_session_cookie(response: Response, session: Session) -> None:
    response.set_cookie(COOKIE, session.id, max_age=None, path="/", httponly=True,
                        samesite="Strict", secure=is_https(request.headers, request.scheme))


@bp.post("/login")
async def login() -> Response:
    body = await read_json()
    if not isinstance(body, dict):
        raise validation('Request body must be a JSON object: {"app_key": "…"}')
    given = body.get("app_key", body.get("password"))
    if not isinstance(given, str) or not given:
        raise validation("app_key is required", param="app_key")
    settings = services().settings
    settings.reload_if_changed()
    secret = settings.options.app.app_key.strip()
    throttle = admin_state().throttle
    address = caller_address()
    refusal = throttled(throttle, address)
    if refusal is not None:
        return refusal
    if not secret:
        raise ApiError(401, "admin key is not configured (app.app_key is empty): the admin "
                       "pages are locked", type="authentication_error", code="admin_locked")
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        wait = throttle.failed(address)
        message = "Wrong admin secret"
        if wait > 0:  # the page says how long the reader must wait, not just "wrong"
            message += (f". Too many wrong admin secrets from your address: try again in "
                        f"{max(1, int(wait + 0.999))} s")
        return _refusal(ApiError(401, message, type="authentication_error",
                                 code="invalid_api_key"), wait or None)
    throttle.succeeded(address)
    session = await admin_state().sessions.open(secret, address)
    log.info("admin: page login from %s", address)
    response = json_response({"status": "success", "setup_required": is_default_key(secret)})
    set_session_cookie(response, session)
    return response


@bp_logout.post("/logout")
async def logout() -> Response:
    session: Session | None = g.get("admin_session")
    if session is not None:
        await admin_state().sessions.close(session.id)
    response = json_response({"status": "success"})
    response.delete_cookie(COOKIE, path="/")
    return response
