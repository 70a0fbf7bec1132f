"""First-run setup: the only admin routes the shipped default secret opens.

`GET /admin/api/setup` says whether the secret is still the default and whether this API can
change it; `POST /admin/api/setup/app_key` sets a new one (also later, as a password change).
The new secret is written to `${DATA_DIR}/config.toml` like `grok2api config set app.app_key`,
so every worker picks it up within a second. A `GROK_APP_APP_KEY` environment variable wins
over the file, so while one is set this API refuses to change the secret.
"""
from __future__ import annotations

import logging
from typing import Any

from quart import Response, g, request

from addons.errors import ApiError, validation
from quart_app.admin.auth import admin_blueprint, caller_address, is_default_key
from quart_app.admin.common import admin_state, json_response, read_json, services
from quart_app.admin.login import set_session_cookie
from quart_app.admin.system import storage_type
from state.settings import SettingsError

__all__ = ["MIN_LENGTH", "MAX_LENGTH", "bp", "check_new_key"]

log = logging.getLogger(__name__)

bp = admin_blueprint("setup", first_run=True)

KEY = "app.app_key"
ENV_NAME = "GROK_APP_APP_KEY"
MIN_LENGTH = 12
MAX_LENGTH = 256


def _state() -> dict[str, Any]:
    svc = services()
    settings = svc.settings
    source = settings.source_of(KEY)
    storage = storage_type(svc.boot.database_url)
    return {"app_key_default": is_default_key(settings.options.app.app_key),
            "app_key_source": source, "app_key_settable": source != "env",
            # what else a fresh deploy should check: where accounts live, the public URL,
            # and whether any account is there yet
            "storage": storage, "storage_persistent": storage not in ("local", "sqlite"),
            "app_url": settings.options.app.app_url,
            "accounts": sum(1 for a in svc.pool.all() if a.deleted_at is None)}


@bp.get("/setup")
async def setup_status() -> Response:
    """`app_key_default`: the admin API is refused until a new secret is set;
    `app_key_source`: default | file | env; `app_key_settable`: false while an environment
    variable sets the secret (change it there); `storage` (local | postgresql | mysql) and
    `storage_persistent`, `app_url`, `accounts` (how many)."""
    return json_response(_state())


def check_new_key(value: Any) -> str:
    """The new secret as sent, or a 400 naming `app_key` and what is wrong with it."""
    if not isinstance(value, str):
        raise validation("app_key must be a string", param="app_key")
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise validation(f"app_key must be {MIN_LENGTH} to {MAX_LENGTH} characters long "
                         f"(got {len(value)})", param="app_key")
    if not all(0x21 <= ord(c) <= 0x7E for c in value):
        raise validation("app_key may hold only printable ASCII characters without spaces "
                         "(it travels in an HTTP header)", param="app_key")
    if is_default_key(value):
        raise validation("app_key must not be the shipped default", param="app_key")
    return value


@bp.post("/setup/app_key")
async def set_app_key() -> Response:
    """Body `{"app_key": "<new secret>"}`; the current secret must come in the Authorization
    header: a page of another site can send `?app_key=` in a form post, but no header."""
    session = g.get("admin_session")  # a page session proved itself with its CSRF token
    if session is None and not request.headers.get("authorization"):
        raise ApiError(400, "Send the current admin secret as Authorization: Bearer <app_key> "
                       "for this call (?app_key= is not accepted here)",
                       type="validation_error", code="header_required")
    body = await read_json()
    if not isinstance(body, dict):
        raise validation('Request body must be a JSON object: {"app_key": "…"}')
    if "app_key" not in body:
        raise validation("app_key is required", param="app_key")
    new_key = check_new_key(body["app_key"])  # the same rules as `schemas.SetAppKey`
    settings = services().settings
    if settings.source_of(KEY) == "env":
        raise ApiError(409, f"The environment variable {ENV_NAME} sets the admin secret and "
                       "wins over the config file: change it there and restart",
                       type="validation_error", code="app_key_from_environment")
    try:
        settings.set(KEY, new_key)
    except SettingsError as exc:  # an unreadable config file: say which
        raise ApiError(500, f"Could not save the new admin secret: {exc}",
                       type="server_error", code="config_write_failed") from None
    log.warning("admin: the admin secret was changed through the setup call from %s",
                caller_address())
    response = json_response({"status": "success", **_state()})
    if session is not None:  # the new secret ended it: the page goes on with a new one
        await admin_state().sessions.close(session.id)
        set_session_cookie(response, await admin_state().sessions.open(new_key,
                                                                       caller_address()))
    return response
