"""Admin authentication: the secret `app.app_key`, sent as
`Authorization: Bearer <key>` or `?app_key=<key>` (browser `EventSource` cannot send headers).
An empty `app.app_key` locks the admin API: it is never open."""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, request

from addons.errors import ApiError
from quart_app.admin.common import json_response, services
from state.options import Loader

__all__ = ["admin_blueprint", "bp", "check_admin", "given_key"]

PREFIX = "/admin/api"


def load(loader: Loader) -> None:
    loader.add_option("app.app_key", str, "grok2api",
                      "Admin password (admin API, admin pages). Empty locks the admin API.")


def given_key(headers: Mapping[str, str], args: Mapping[str, str]) -> str | None:
    """The secret a caller sent: a Bearer header wins over the query parameter."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = args.get("app_key")
    return key.strip() if key and key.strip() else None


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


def admin_blueprint(name: str) -> Blueprint:
    """A blueprint under `/admin/api` whose every route needs the admin secret."""
    blueprint = Blueprint(f"admin_{name}", __name__, url_prefix=PREFIX)

    @blueprint.before_request
    async def _guard() -> None:
        if request.method != "OPTIONS":  # CORS preflight carries no credentials
            check_admin(services().settings, request.headers, request.args)

    return blueprint


bp = admin_blueprint("auth")


@bp.get("/verify")
async def verify() -> Response:
    """The login page checks the password with this."""
    return json_response({"status": "success"})
