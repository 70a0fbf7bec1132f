"""Who may use the web chat's API (`/webui/api/*`, api-surface §1.3, AUTH-20..23).

* `app.webui_key` set: the key is required as `Authorization: Bearer <key>` (the imagine
  socket also takes it raw, or as `?access_token=`, since a browser cannot give a WebSocket a
  header), whether or not the pages are enabled; compared in constant time.
* `app.webui_key` empty: the API is open while `app.webui_enabled` is on, and answers
  401 "WebUI access is disabled" while it is off.
* A request without a key may carry an admin page session instead, so `/admin/chat` and
  `/admin/imagine` use the same API: its cookie is `SameSite=Strict` (never sent by another
  site), a POST must repeat the session's CSRF token in `X-CSRF-Token` and the socket in
  `?csrf=` (which another site cannot know), as every admin call does.

The flows run as the client `webui` (or `admin` for a page session): usage, the request
audit and metrics name them so, and no managed key's limits apply.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from werkzeug.http import parse_cookie

from addons.errors import ApiError
from addons.flow import ClientKey
from quart_app.admin.auth import default_key_refused, is_default_key
from quart_app.admin.sessions import COOKIE, AdminSessions
from state.options import Loader

__all__ = ["ADMIN_CLIENT", "WEBUI_CLIENT", "WebuiAuth", "load", "webui_key_given"]

WEBUI_CLIENT = ClientKey(None, "webui")
ADMIN_CLIENT = ClientKey(None, "admin")


def load(loader: Loader) -> None:
    loader.add_option("app.webui_enabled", bool, False,
                      "Serve the web chat pages (/webui/chat, /webui/imagine) for people "
                      "without another client; off, they answer 404 and an open (keyless) "
                      "WebUI API refuses every call.")
    loader.add_option("app.webui_key", str, "",
                      "Password of the web chat (Bearer on /webui/api/*, typed once on "
                      "/webui/login); empty = no password while app.webui_enabled is on.")


def _unauthorised(message: str, code: str) -> ApiError:
    return ApiError(401, message, type="authentication_error", code=code)


def webui_key_given(headers: Mapping[str, str], *, raw: bool = False,
                    query_token: str | None = None) -> str | None:
    """The key a caller sent: `Authorization: Bearer <key>` (or the bare value when `raw`,
    as the socket allows), else the socket's `access_token` query parameter."""
    auth = (headers.get("authorization") or "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if raw and not value:
            return auth
    token = (query_token or "").strip()
    return token or None


class WebuiAuth:
    def __init__(self, settings: Any, sessions: AdminSessions) -> None:
        self.settings = settings
        self.sessions = sessions

    async def client(self, headers: Mapping[str, str], *, unsafe: bool, socket: bool = False,
                     query: Mapping[str, str] | None = None) -> ClientKey:
        """Who the caller is, or the 401/403 ApiError that refuses it. `unsafe`: the call
        changes or spends something (a POST, a socket), so a page session needs its CSRF
        token (the header; `?csrf=` on a socket)."""
        self.settings.reload_if_changed()
        app = self.settings.options.app
        query = query or {}
        given = webui_key_given(headers, raw=socket,
                                query_token=query.get("access_token") if socket else None)
        cookie = None
        if given is None:
            cookie = parse_cookie(headers.get("cookie") or "").get(COOKIE)
            if cookie:
                admin = await self._admin(cookie, app.app_key.strip(), headers, query, unsafe,
                                          socket)
                if admin is not None:
                    return admin
        key = app.webui_key.strip()
        if key:
            if given is None:
                if cookie:  # an admin page whose session ended: it leads to the login
                    raise _unauthorised("Your admin session has ended: log in again",
                                        "session_expired")
                raise _unauthorised("Missing WebUI key: send Authorization: Bearer <webui_key>",
                                    "missing_api_key")
            if not hmac.compare_digest(given.encode(), key.encode()):
                raise _unauthorised("Invalid WebUI key", "invalid_api_key")
            return WEBUI_CLIENT
        if not app.webui_enabled:
            if cookie:
                raise _unauthorised("Your admin session has ended: log in again",
                                    "session_expired")
            raise _unauthorised("WebUI access is disabled", "webui_disabled")
        return WEBUI_CLIENT

    async def _admin(self, cookie: str, secret: str, headers: Mapping[str, str],
                     query: Mapping[str, str], unsafe: bool, socket: bool) -> ClientKey | None:
        """The admin client of a live page session; None when the cookie names none (the
        WebUI's own rules decide then)."""
        session = await self.sessions.find(cookie, secret)
        if session is None:
            return None
        if is_default_key(secret):
            raise default_key_refused()
        if unsafe:
            sent = query.get("csrf") if socket else headers.get("x-csrf-token")
            if not session.csrf_ok(sent):
                raise ApiError(403, "Missing or wrong CSRF token: reload the page",
                               type="permission_error", code="csrf_failed")
        return ADMIN_CLIENT
