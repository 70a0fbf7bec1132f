"""The admin JSON API under `/admin/api`.

One blueprint per concern, each guarded by the admin secret (`auth.admin_blueprint`):
`auth` (verify), `system` (status, storage, sync), `tokens` (the account table), `replace`
(pool imports), `batch` (refresh / NSFW over many accounts, with SSE progress). Everything is
built in `register_admin`, called from `create_app`; nothing happens at import.
"""
from __future__ import annotations

from quart import Quart

from quart_app.admin.common import ADMIN_EXTENSION, AdminState

__all__ = ["register_admin"]


def register_admin(app: Quart) -> AdminState:
    from quart_app.admin import auth, batch, replace, system, tokens

    state = AdminState()
    app.extensions[ADMIN_EXTENSION] = state
    for module in (auth, system, tokens, replace, batch):
        app.register_blueprint(module.bp)

    @app.after_serving
    async def _stop_admin() -> None:  # before the services close their transports
        await state.close()

    return state
