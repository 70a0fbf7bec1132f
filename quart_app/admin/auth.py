"""Admin authentication: the secret `app.app_key`, sent as `Authorization: Bearer <key>` or
`?app_key=<key>` (browser `EventSource` cannot send headers; scripts may use it too).

* An empty `app.app_key` locks the admin API: it is never open.
* While the secret is the shipped default, which everyone knows, the right secret opens only
  the first-run setup routes (`quart_app.admin.setup`: is the secret the default, set a new
  one); every other route answers 403 `admin_key_default`.
* Wrong secrets are throttled per client address (`quart_app.admin.throttle`).
* A request without a secret may carry an admin page session instead
  (`quart_app.admin.sessions`); its state-changing calls must repeat the session's CSRF token.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, g, request

from addons.errors import ApiError
from quart_app.admin.common import admin_state, json_response, services
from quart_app.admin.sessions import COOKIE, CSRF_HEADER
from quart_app.client_address import client_address, parse_networks
from quart_app.errors import error_body
from state.options import Loader

__all__ = ["DEFAULT_APP_KEY", "admin_blueprint", "bp", "caller_address", "check_admin",
           "given_key", "is_default_key"]

PREFIX = "/admin/api"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The shipped admin secret: public, so it opens nothing but the first-run setup.
DEFAULT_APP_KEY = "grok2api"


def load(loader: Loader) -> None:
    loader.add_option("app.app_key", str, DEFAULT_APP_KEY,
                      "Admin password (admin API, admin pages). Empty locks the admin API; "
                      "the shipped default opens only the first-run setup, which sets a new "
                      "one.")


def given_key(headers: Mapping[str, str], args: Mapping[str, str]) -> str | None:
    """The secret a caller sent: a Bearer header wins over the query parameter."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = args.get("app_key")
    return key.strip() if key and key.strip() else None


def is_default_key(secret: str) -> bool:
    return secret.strip() == DEFAULT_APP_KEY


def check_admin(settings: Any, headers: Mapping[str, str], args: Mapping[str, str]) -> None:
    """Raise a 401 unless the caller holds the admin secret (constant-time comparison)."""
    settings.reload_if_changed()  # a changed key applies at once
    secret = settings.options.app.app_key.strip()
    if not secret:
        raise ApiError(401, "admin key is not configured (app.app_key is empty): "
                       "the admin API is locked", type="authentication_error",
                       code="admin_locked")
    key = given_key(headers, args)
    if key is None:
        raise ApiError(401, "Missing admin key: send Authorization: Bearer <app_key> "
                       "or ?app_key=", type="authentication_error", code="missing_api_key")
    if not hmac.compare_digest(key.encode(), secret.encode()):
        raise ApiError(401, "Invalid admin key", type="authentication_error",
                       code="invalid_api_key")


def default_key_refused() -> ApiError:
    return ApiError(403, "The admin secret app.app_key is still the shipped default, which "
                    "everyone knows: set a new one first (POST /admin/api/setup/app_key with "
                    '{"app_key": "…"}, or `grok2api config set app.app_key …`)',
                    type="permission_error", code="admin_key_default")


def caller_address() -> str:
    """The client's address, through the proxies the operator trusts."""
    trusted = parse_networks(services().settings.options.server.trusted_proxies)
    return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                          trusted)


def _refusal(err: ApiError, retry_after: float | None = None) -> Response:
    response = Response(error_body(err, request.path), status=err.status,
                        content_type="application/json")
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


async def guard(*, first_run: bool) -> Response | None:
    """The admin check of the current request: None lets it through, else the refusal.
    `first_run`: the route belongs to the setup the default secret may use. A request that
    sends no secret may come with a page session instead (`quart_app.admin.sessions`)."""
    settings = services().settings
    if given_key(request.headers, request.args) is None and request.cookies.get(COOKIE):
        refusal = await _session_guard(settings)
    else:
        refusal = _secret_guard(settings)
    if refusal is None and not first_run and is_default_key(settings.options.app.app_key):
        return _refusal(default_key_refused())
    return refusal


def throttled(throttle: Any, address: str) -> Response | None:
    """The 429 of an address that must wait after wrong secrets; None when it may try."""
    wait = throttle.wait(address)
    if wait <= 0:
        return None
    return _refusal(ApiError(429, f"Too many wrong admin secrets from your address: try "
                             f"again in {max(1, int(wait + 0.999))} s",
                             type="rate_limit_error", code="admin_throttled"), wait)


def _secret_guard(settings: Any) -> Response | None:
    throttle = admin_state().throttle
    address = caller_address()
    refusal = throttled(throttle, address)
    if refusal is not None:
        return refusal
    try:
        check_admin(settings, request.headers, request.args)
    except ApiError as err:
        if err.code == "invalid_api_key":
            throttle.failed(address)
        return _refusal(err)
    throttle.succeeded(address)
    return None


async def _session_guard(settings: Any) -> Response | None:
    settings.reload_if_changed()  # a changed secret ends the sessions at once
    session = await admin_state().sessions.find(request.cookies.get(COOKIE),
                                                 settings.options.app.app_key.strip())
    if session is None:
        return _refusal(ApiError(401, "Your admin session has ended: log in again",
                                 type="authentication_error", code="session_expired"))
    if request.method not in SAFE_METHODS and not session.csrf_ok(
            request.headers.get(CSRF_HEADER)):
        return _refusal(ApiError(403, f"Missing or wrong {CSRF_HEADER} header: reload the page",
                                 type="permission_error", code="csrf_failed"))
    g.admin_session = session
    return None


def admin_blueprint(name: str, *, first_run: bool = False) -> Blueprint:
    """A blueprint under `/admin/api` whose every route needs the admin secret; `first_run`
    routes also answer while the secret is the shipped default."""
    blueprint = Blueprint(f"admin_{name}", __name__, url_prefix=PREFIX)

    @blueprint.before_request
    async def _guard() -> Response | None:
        # CORS preflights never get here: the HTTP policy layer answers them, without CORS
        # headers for the admin API, so no other origin may call it from a browser
        return await guard(first_run=first_run)

    return blueprint


bp = admin_blueprint("auth")


@bp.get("/verify")
async def verify() -> Response:
    """The login page checks the password with this (a 403 `admin_key_default` tells it to
    show the first-run setup instead)."""
    return json_response({"status": "success"})
