"""The admin pages and the web chat: HTML rendered by Quart from `templates/`, plain
JavaScript modules and vendored libraries from `static/` (no build step, nothing fetched
from elsewhere at run time), strings from `i18n/<lang>/*.json`.

Every page is a thin shell; its script talks to the JSON API (`/admin/api/*`,
`/webui/api/*`) like any other client, so everything a page can do a script can do too.
Built by `register_web`, called from `create_app`; nothing happens at import.
"""
from __future__ import annotations

from quart import Quart

__all__ = ["register_web"]


def register_web(app: Quart) -> None:
    from quart_app.web import admin_pages, assets

    app.register_blueprint(assets.bp)
    app.register_blueprint(admin_pages.bp)
