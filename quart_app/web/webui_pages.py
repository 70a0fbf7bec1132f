"""The web chat's pages (api-surface §1.3, §10.10): `/webui/login`, `/webui/chat`,
`/webui/imagine` (and `/webui/masonry`, the older name of the waterfall). They answer 404
while `app.webui_enabled` is off; `/webui` leads to the login.

The pages hold no secret: the login page checks the key against `/webui/api/verify` and
keeps it in the tab's `sessionStorage` (gone when the tab closes; no cookie a script or
another site could use), and the page scripts send it as a Bearer header. The chat and
imagine scripts are the admin's (`chat.js`, `imagine.js`): the area says which credentials
they use.
"""
from __future__ import annotations

from quart import Blueprint, Response, abort, redirect

from quart_app.admin.common import services
from quart_app.web.render import render_page

__all__ = ["WEBUI_PAGES", "bp"]

bp = Blueprint("webui_pages", __name__, template_folder="templates")

#: The pages in navigation order: path segment → the i18n key of its title.
WEBUI_PAGES: dict[str, str] = {"chat": "nav.chat", "imagine": "nav.imagine"}
ALIASES = {"masonry": "imagine"}


def _require_enabled() -> None:
    settings = services().settings
    settings.reload_if_changed()
    if not settings.options.app.webui_enabled:
        abort(404)


@bp.get("/webui")
@bp.get("/webui/")
async def webui_root() -> Response:
    _require_enabled()
    return redirect("/webui/login")


@bp.get("/webui/login")
async def login_page() -> Response:
    _require_enabled()
    return await render_page("webui/login.html", page="webui_login", title_key="webui.login_title",
                             area="bare")


@bp.get("/webui/<name>")
async def webui_page(name: str) -> Response:
    _require_enabled()
    name = ALIASES.get(name, name)
    if name not in WEBUI_PAGES:
        abort(404)
    nav = [{"path": f"/webui/{p}", "key": k, "active": p == name} for p, k in WEBUI_PAGES.items()]
    return await render_page(f"webui/{name}.html", page=name, title_key=WEBUI_PAGES[name],
                             area="webui", nav=nav)
