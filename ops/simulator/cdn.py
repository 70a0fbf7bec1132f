"""The asset CDN (`assets.grok.com`) and the public imagine host, served on the simulator's
one origin: uploads and generated files to their owner's cookies only, public imagine files
to anyone, `Range` honoured, and a switch (`state.cdn_offline`) that takes it all offline.
"""
from __future__ import annotations

import hashlib

from aiohttp import web

from ops.simulator.auth import parse_sso
from ops.simulator.common import TOKEN_KEY, apply_plain_fault, sim_state, to_response
from ops.simulator.errors import ErrorReply, json_reply
from ops.simulator.state import PUBLIC_IMAGES_PREFIX, PUBLIC_VIDEOS_PREFIX, SimulatorState

FORBIDDEN = json_reply(403, {"error": {"code": 7, "message": "Forbidden", "details": []}})
NOT_FOUND = json_reply(404, {"error": {"code": 5, "message": "Not found", "details": []}})
#: What the CDN answers while switched off: a bare 503 as an edge with no origin gives.
OFFLINE = ErrorReply(503, b"Service Unavailable", "text/plain")


def _owner_ok(state: SimulatorState, request: web.Request, token: str | None) -> bool:
    sso, rw = parse_sso(request.headers.get("Cookie", ""))
    owner = state.tokens.get(token) if token else None
    return bool(sso) and sso == token and rw == token and owner is not None and owner.status == "active"


def serve_bytes(request: web.Request, data: bytes, mime: str) -> web.Response:
    """`data` whole (200) or the one requested byte range (206); 416 for a range outside it."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, max-age=3600"}
    size = len(data)
    try:
        wanted = request.http_range
    except ValueError:
        wanted = None
        if "Range" in request.headers:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if wanted is None or (wanted.start is None and wanted.stop is None):
        return web.Response(body=data, content_type=mime, headers=headers)
    start, stop, _ = wanted.indices(size)
    if wanted.start is not None and wanted.start >= size or start >= stop:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(status=206, body=data[start:stop], content_type=mime, headers=headers)


async def _preamble(request: web.Request) -> web.StreamResponse | None:
    state = sim_state(request)
    early = await apply_plain_fault(request, state.take_fault(request.path, request[TOKEN_KEY]))
    if early is not None:
        return early
    if state.cdn_offline:
        return to_response(OFFLINE)
    return None


async def owned_handler(request: web.Request) -> web.StreamResponse:
    """`/users/<uid>/…`: an upload or a generated file, for the owning session only
    (404 unknown, 403 anyone else)."""
    early = await _preamble(request)
    if early is not None:
        return early
    state = sim_state(request)
    path = request.path.lstrip("/")
    media = state.media.get(path)
    if media is not None:
        if not _owner_ok(state, request, media.token):
            return to_response(FORBIDDEN)
        return serve_bytes(request, media.data, media.mime)
    parts = path.split("/")
    item = state.files.get(parts[2]) if len(parts) == 4 and parts[3] == "content" else None
    if item is None or item.user_id != parts[1]:
        return to_response(NOT_FOUND)
    if not _owner_ok(state, request, item.token):
        return to_response(FORBIDDEN)
    return serve_bytes(request, item.data, item.mime)


async def public_handler(request: web.Request) -> web.StreamResponse:
    """`/imagine-public/…`: public imagine files, to anyone, no cookies needed."""
    early = await _preamble(request)
    if early is not None:
        return early
    media = sim_state(request).media.get(request.path.lstrip("/"))
    if media is None or not media.public:
        return to_response(NOT_FOUND)
    return serve_bytes(request, media.data, media.mime)


def add_cdn_routes(app: web.Application) -> None:
    app.router.add_get("/users/{rest:.+}", owned_handler)
    app.router.add_get(f"/{PUBLIC_IMAGES_PREFIX}{{name}}", public_handler)
    app.router.add_get(f"/{PUBLIC_VIDEOS_PREFIX}{{name}}", public_handler)
