"""The runtime settings for operators (the config page; api-surface §10.1, CFG-1).

`GET /admin/api/config`: every declared option with its table, type, default, help, current
value and source (default | file | env, with the variable's name); secrets only say whether
they are set (`state.config_view`). Beside `options`, the merged values as nested tables
(`{"app": {…}, "retry": {…}}`, secrets masked), the shape older scripts read.

`POST /admin/api/config` (or PATCH) takes `{"<key>": value, …}` (flat dotted keys, or nested
tables) and saves all or nothing: every value is judged by its declaration first; any bad or
unknown key is a 400 and a key a `GROK_*` variable sets a 409, each naming the key as `param`
(the first one in `error`, all of them in `errors`). Then one atomic write of
`${DATA_DIR}/config.toml` through tomlkit (comments kept) and a reload: the change applies in
this process at once and in every other worker and instance on the data directory within a
second (`Settings.reload_if_changed`). A new `app.app_key` follows the first-run setup's rules
and ends every page session (they fingerprint the secret): the answer says `relogin`.
"""
from __future__ import annotations

import logging
from typing import Annotated, Any

from msgspec import Meta
from quart import Response, g, request

from addons.errors import ApiError
from quart_app.admin.auth import admin_blueprint, caller_address
from quart_app.admin.common import admin_state, json_response, read_json, services
from quart_app.admin.setup import KEY as APP_KEY
from quart_app.admin.setup import check_new_key
from quart_app.errors import error_payload
from state.config_view import Problem, check_changes, config_view
from state.settings import SettingsError

__all__ = ["ConfigChanges", "bp"]

log = logging.getLogger(__name__)

bp = admin_blueprint("config")

#: The body of a save, as `/openapi.json` describes it: values are judged per key.
ConfigChanges = Annotated[dict[str, Any], Meta(
    min_length=1, description='{"<section>.<key>": value, …} (or nested tables); all are '
                              "checked before any is saved")]


def _app_key(value: Any) -> str:
    """The first-run setup's rules for a new admin secret, as a ValueError."""
    try:
        return check_new_key(value)
    except ApiError as err:
        raise ValueError(err.message.removeprefix("app_key ")) from None


def _refusal(problems: list[Problem]) -> Response:
    """400 when any change is bad (else 409: only keys the environment sets), naming the
    first such key; `errors` lists every problem."""
    status = 400 if any(p.status == 400 for p in problems) else 409
    first = next(p for p in problems if p.status == status)
    more = len(problems) - 1
    message = first.message + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
    err = ApiError(status, message, type="validation_error", code=first.code, param=first.key)
    payload = {**error_payload(err), "errors": [p.to_dict() for p in problems]}
    return json_response(payload, status)


@bp.get("/config")
async def get_config() -> Response:
    settings = services().settings
    settings.reload_if_changed()
    return json_response(config_view(settings))


@bp.route("/config", methods=["POST", "PATCH"])
async def save_config() -> Response:
    body = await read_json()
    if not isinstance(body, dict) or not body:
        raise ApiError(400, 'Request body must be a JSON object of settings: '
                       '{"<section>.<key>": value, …}', type="validation_error",
                       code="invalid_value")
    settings = services().settings
    settings.reload_if_changed()  # judge against what another worker may just have saved
    checked, problems = check_changes(settings, body, {APP_KEY: _app_key})
    session = g.get("admin_session")
    if APP_KEY in checked and session is None and not request.headers.get("authorization"):
        # the setup call's rule: a form of another site can send ?app_key=, not a header
        problems.append(Problem(APP_KEY, "Send the current admin secret as Authorization: "
                                "Bearer <app_key> to change app.app_key (?app_key= is not "
                                "accepted for it)", code="header_required"))
    if problems:
        return _refusal(problems)
    if not checked:  # e.g. {"app": {}}: nested tables without a single key
        raise ApiError(400, "No setting to save: send at least one key with its value",
                       type="validation_error", code="invalid_value")
    new_key = APP_KEY in checked and checked[APP_KEY] != settings.options.app.app_key
    try:
        settings.set_many(checked)
    except SettingsError as exc:  # the file itself is unreadable: say which
        raise ApiError(500, f"Could not save the settings: {exc}", type="server_error",
                       code="config_write_failed") from None
    log.log(logging.WARNING if new_key else logging.INFO, "admin: settings changed from %s: %s",
            caller_address(), ", ".join(checked))  # the keys only, never a value
    if new_key and session is not None:  # ended by the new secret; gone from the table too
        await admin_state().sessions.close(session.id)
    return json_response({"status": "success", "saved": sorted(checked), "relogin": new_key,
                          **config_view(settings)})
