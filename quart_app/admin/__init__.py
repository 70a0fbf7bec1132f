"""The admin JSON API under `/admin/api`.

One blueprint per concern, each guarded by the admin secret (`auth.admin_blueprint`):
`auth` (verify), `setup` (first run: is the secret the default, set a new one), `system`
(status, storage, sync), `config` (the runtime settings: read, validate and save), `tokens`
(the account table), `tokens_io` (import with a preview, export of the filtered rows),
`replace` (pool imports), `batch` (refresh / NSFW over many accounts, with SSE progress),
`assets` (the files accounts hold on grok.com, and their batch clear), `cache` (the local
media cache), `usage` (the datacenter metrics, usage series), `requests` (the request audit log and its export), `keys`
(managed client keys) and `logs` (the log files). Everything is built in
`register_admin`, called from `create_app`; nothing happens at import.
"""
from __future__ import annotations

import logging

from quart import Quart, Response, request

from quart_app.admin.common import ADMIN_EXTENSION, AdminState

__all__ = ["register_admin"]

log = logging.getLogger(__name__)


def register_admin(app: Quart) -> AdminState:
    from quart_app.admin import (
        assets, auth, batch, cache, config, keys, login, logs, replace, requests, setup,
        system, tokens, tokens_io, usage,
    )

    services = app.extensions["grok2api"]
    settings = services.settings
    state = AdminState(settings, services.accounts.thread)
    app.extensions[ADMIN_EXTENSION] = state
    app.register_blueprint(login.bp)
    app.register_blueprint(login.bp_logout)
    for module in (auth, setup, system, config, tokens, tokens_io, replace, batch, assets,
                   cache, usage, requests, keys, logs):
        app.register_blueprint(module.bp)

    @app.after_request
    async def _forget_counts(response: Response) -> Response:
        # an operator's change shows in the next listing's counts, not 2 s later
        if request.method not in ("GET", "HEAD", "OPTIONS") and \
                request.path.startswith("/admin/api/"):
            state.counts.forget()
        return response

    @app.before_serving
    async def _warn_default_key() -> None:
        # every start, in every worker, until the operator changes it
        key = settings.options.app.app_key
        if auth.is_default_key(key):
            log.warning("The admin secret app.app_key is the shipped default %r, which everyone "
                        "knows: the admin API refuses everything but the first-run setup until "
                        "it is changed (`grok2api config set app.app_key …`, the "
                        "GROK_APP_APP_KEY environment variable, or POST "
                        "/admin/api/setup/app_key)", auth.DEFAULT_APP_KEY)
        elif not key.strip():
            log.info("app.app_key is empty: the admin API is locked")

    @app.after_serving
    async def _stop_admin() -> None:  # before the services close their transports
        await state.close()

    return state
