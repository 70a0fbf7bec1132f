"""One way to answer with a page: the template, the strings of the reader's language, the
data its script starts from (`boot`, embedded as JSON, which the browser never runs), and the
headers every page carries.

The Content-Security-Policy allows scripts and styles from this origin only (no inline
script, no eval), so a value that slipped through unescaped still could not run; pages may
not be framed by other sites.
"""
from __future__ import annotations

from typing import Any

from quart import Response, render_template, request

from quart_app.web.i18n import LANGUAGES, choose_language, strings

__all__ = ["CSP", "page_headers", "render_page"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _version() -> str:
    from quart_app.routes_misc import app_version
    return app_version()


def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"  # pages embed a CSRF token
    return response


async def render_page(template: str, *, page: str, title_key: str, area: str = "admin",
                      boot: dict[str, Any] | None = None, status: int = 200,
                      **context: Any) -> Response:
    """`page` names the script (`static/js/<page>.js`); `area` the navigation (`admin`,
    `webui`, or `bare` for login and setup)."""
    lang = choose_language(request.cookies.get("lang"), request.headers.get("accept-language"))
    text = strings(lang)
    version = _version()
    data = {"lang": lang, "languages": LANGUAGES, "strings": text, "page": page,
            "area": area, "version": version, **(boot or {})}
    html = await render_template(
        template, t=lambda key: text.get(key, key), lang=lang, page=page, area=area,
        title=text.get(title_key, title_key), version=version, boot=data, **context)
    return page_headers(Response(html, status=status, content_type="text/html; charset=utf-8"))
