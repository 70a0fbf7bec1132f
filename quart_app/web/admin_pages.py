"""The admin pages (api-surface §10.9). Each is a shell whose script (`static/js/<page>.js`)
calls the admin API with the session cookie and the page's CSRF token.

`/admin` and the fork's `/login` lead to `/admin/login`; a page without a session redirects
there too (and back afterwards). While `app.app_key` is still the shipped default, every page
leads to `/admin/setup`, which makes the operator choose a new one.
"""
from __future__ import annotations

from quart import Blueprint, Response, abort, redirect, request

from quart_app.web.page_session import current_session, login_redirect, setup_pending
from quart_app.web.render import render_page

__all__ = ["ADMIN_PAGES", "bp"]

bp = Blueprint("admin_pages", __name__, template_folder="templates")

#: The pages in navigation order: path segment → the i18n key of its title.
ADMIN_PAGES: dict[str, str] = {
    "datacenter": "nav.datacenter",
    "account": "nav.accounts",
    "keys": "nav.keys",
    "config": "nav.config",
    "cache": "nav.cache",
    "requests": "nav.requests",
    "logs": "nav.logs",
    "chat": "nav.chat",
    "imagine": "nav.imagine",
}
HOME = "/admin/account"
#: The fork's paths of the same pages.
ALIASES = {"token": "account"}


def _safe_next(value: str | None) -> str:
    """Only a path of this site's admin pages: never an open redirect."""
    if value and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME


@bp.get("/admin")
@bp.get("/admin/")
@bp.get("/login")
async def admin_root() -> Response:
    return redirect("/admin/login")


@bp.get("/manage")  # the v0 gateway's accounts page
async def old_manage_page() -> Response:
    return redirect("/admin/account")


@bp.get("/admin/login")
async def login_page() -> Response:
    if await current_session() is not None:
        return redirect("/admin/setup" if setup_pending() else _safe_next(request.args.get("next")))
    return await render_page("login.html", page="login", title_key="login.title", area="bare",
                             boot={"next": _safe_next(request.args.get("next"))})


@bp.get("/admin/setup")
async def setup_page() -> Response:
    session = await current_session()
    if session is None:
        return login_redirect()
    return await render_page("setup.html", page="setup", title_key="setup.title", area="bare",
                             boot={"csrf": session.csrf, "pending": setup_pending()})


@bp.get("/admin/<name>")
async def admin_page(name: str) -> Response:
    if name in ALIASES:
        return redirect(f"/admin/{ALIASES[name]}")
    if name not in ADMIN_PAGES:
        abort(404)
    session = await current_session()
    if session is None:
        return login_redirect()
    if setup_pending():
        return redirect("/admin/setup")
    nav = [{"path": f"/admin/{p}", "key": k, "active": p == name} for p, k in ADMIN_PAGES.items()]
    return await render_page(f"admin/{name}.html", page=name, title_key=ADMIN_PAGES[name],
                             boot={"csrf": session.csrf}, nav=nav)
