"""Who may see an admin page: the holder of a live session (`quart_app.admin.sessions`).
Pages answer a browser, so a missing session is a redirect to the login page, not a 401."""
from __future__ import annotations

from urllib.parse import quote

from quart import Response, redirect, request

from quart_app.admin.auth import is_default_key
from quart_app.admin.common import admin_state, services
from quart_app.admin.sessions import COOKIE, Session

__all__ = ["current_session", "login_redirect"]


async def current_session() -> Session | None:
    settings = services().settings
    settings.reload_if_changed()
    return await admin_state().sessions.find(request.cookies.get(COOKIE),
                                             settings.options.app.app_key.strip())


def login_redirect() -> Response:
    target = request.full_path.rstrip("?")
    return redirect("/admin/login?next=" + quote(target, safe="/"))


def setup_pending() -> bool:
    return is_default_key(services().settings.options.app.app_key)
