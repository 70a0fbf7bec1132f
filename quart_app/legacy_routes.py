"""The admin routes of the older gateways (api-surface §10), answered by today's routes so
existing scripts and the fork's pages keep working: an ASGI layer that rewrites the path
(and for a few routes the method, query or body) before anything else sees the request, so
the admin guard, CORS policy, logs and metrics all treat an old route as its new one.

* `/api/v1/admin/*` (the fork) and `/v1/admin/*` (v1.x) are `/admin/api/*`, with v1.x's own
  names for the batch routes (`tokens/refresh/async`, `tokens/nsfw/enable/async`).
* The v0 routes of the table below (`/api/tokens`, `/api/settings`, `/api/stats`, …).
Anything else under those prefixes falls through to a 404 as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

__all__ = ["LegacyRoutes", "rewrite"]

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
ADMIN = "/admin/api"
PREFIXES = (("/api/v1/admin/", ADMIN + "/"), ("/v1/admin/", ADMIN + "/"))


@dataclass(frozen=True, slots=True)
class Target:
    method: str
    path: str
    query: str = ""
    body: bytes | None = None  # replaces the request's (a route whose old form had none)


#: (method, old path after the prefix rewrite) → today's route.
ROUTES: dict[tuple[str, str], Target] = {
    # v1.x batch names
    ("POST", f"{ADMIN}/tokens/refresh/async"): Target("POST", f"{ADMIN}/batch/refresh", "async=true"),
    ("POST", f"{ADMIN}/tokens/nsfw/enable"): Target("POST", f"{ADMIN}/batch/nsfw", "enabled=true"),
    ("POST", f"{ADMIN}/tokens/nsfw/enable/async"):
        Target("POST", f"{ADMIN}/batch/nsfw", "async=true&enabled=true"),
    # v0 (seed 002) and the fork's Workers port
    ("POST", "/api/login"): Target("POST", f"{ADMIN}/login"),
    ("POST", "/api/logout"): Target("POST", f"{ADMIN}/logout"),
    ("GET", "/api/tokens"): Target("GET", f"{ADMIN}/tokens"),
    ("POST", "/api/tokens/add"): Target("POST", f"{ADMIN}/tokens/add"),
    ("POST", "/api/tokens/delete"): Target("DELETE", f"{ADMIN}/tokens"),
    ("GET", "/api/settings"): Target("GET", f"{ADMIN}/config"),
    ("POST", "/api/settings"): Target("POST", f"{ADMIN}/config"),
    ("GET", "/api/cache/size"): Target("GET", f"{ADMIN}/cache"),
    ("POST", "/api/cache/clear/images"):
        Target("POST", f"{ADMIN}/cache/clear", body=b'{"type": "image"}'),
    ("POST", "/api/cache/clear/videos"):
        Target("POST", f"{ADMIN}/cache/clear", body=b'{"type": "video"}'),
    ("GET", "/api/stats"): Target("GET", f"{ADMIN}/metrics"),
}


def rewrite(method: str, path: str) -> Target | None:
    """Today's route for an old one; None when `path` is not an old route. A preflight
    (OPTIONS) goes where any method of the old path goes, so it gets the admin's (no) CORS."""
    for old, new in PREFIXES:
        if path.startswith(old):
            path = new + path[len(old):]
            return _lookup(method, path) or Target(method, path)
    return _lookup(method, path)


def _lookup(method: str, path: str) -> Target | None:
    if method != "OPTIONS":
        return ROUTES.get((method, path))
    return next((Target("OPTIONS", t.path) for (_, p), t in ROUTES.items() if p == path), None)


class LegacyRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        if not path.startswith(("/api/", "/v1/admin/")):  # one check on the hot path
            return await self.app(scope, receive, send)
        target = rewrite(scope.get("method", "GET"), path)
        if target is None:
            return await self.app(scope, receive, send)
        scope = {**scope, "path": target.path, "raw_path": target.path.encode()}
        if scope["type"] == "http":
            scope["method"] = target.method
        if target.query:
            old = scope.get("query_string", b"")
            scope["query_string"] = target.query.encode() + (b"&" + old if old else b"")
        if target.body is not None:
            receive = _fixed_body(target.body, receive)
            scope["headers"] = [(k, v) for k, v in scope["headers"]
                                if k not in (b"content-length", b"content-type")] + [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(target.body)).encode())]
        await self.app(scope, receive, send)


def _fixed_body(body: bytes, receive: Callable) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def fixed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            # the client's own body (usually none) is read and dropped first
            while (await receive()).get("more_body"):
                pass
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return fixed
