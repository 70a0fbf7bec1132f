"""The admin pages and the web chat: HTML rendered by Quart from `templates/`, plain
JavaScript modules and vendored libraries from `static/` (no build step, nothing fetched
from elsewhere at run time), strings from `i18n/<lang>/*.json`.

Every page is a thin shell; its script talks to the JSON API (`/admin/api/*`,
`/webui/api/*`) like any other client, so everything a page can do a script can do too.
Built by `register_web`, called from `create_app`; nothing happens at import.
"""
from __future__ import annotations

from quart import Quart

from quart_app.fastpath import Handler

__all__ = ["register_web"]


def register_web(app: Quart) -> dict[str, Handler]:
    """Registers the pages and the web chat's API; returns the fast-path routes of that API
    (its chat stream), for the app factory to mount beside the /v1 ones."""
    from quart_app.admin.common import ADMIN_EXTENSION
    from quart_app.web import admin_pages, assets, webui_api, webui_imagine, webui_pages
    from quart_app.web.webui_auth import WebuiAuth

    auth = WebuiAuth(app.extensions["grok2api"].settings,
                     app.extensions[ADMIN_EXTENSION].sessions)
    app.extensions[webui_api.EXTENSION] = auth
    app.register_blueprint(assets.bp)
    app.register_blueprint(admin_pages.bp)
    app.register_blueprint(webui_pages.bp)
    app.register_blueprint(webui_api.bp)
    app.register_blueprint(webui_imagine.bp)
    return webui_api.fast_routes(auth)
