"""Upload (E6, spec 8.1) and the asset CDN (E10), served on the simulator's origin."""
from __future__ import annotations

import base64
import binascii

from aiohttp import web

from ops.simulator.auth import parse_sso
from ops.simulator.common import JSON_KEY, TOKEN_KEY, admit, apply_plain_fault, json_response, sim_state, to_response
from ops.simulator.errors import bad_request, json_reply
from ops.simulator.state import UPLOAD_PATH

_FORBIDDEN = json_reply(403, {"error": {"code": 7, "message": "Forbidden", "details": []}})
_NOT_FOUND = json_reply(404, {"error": {"code": 5, "message": "Not found", "details": []}})


async def upload_handler(request: web.Request) -> web.StreamResponse:
    state = sim_state(request)
    sim, refused = await admit(request, UPLOAD_PATH)
    if refused is not None:
        return refused
    payload = request[JSON_KEY]
    if not isinstance(payload, dict):
        return to_response(bad_request("Request body must be a JSON object"))
    name = payload.get("fileName")
    mime = payload.get("fileMimeType")
    content = payload.get("content")
    if not isinstance(name, str) or not name:
        return to_response(bad_request("fileName is required"))
    if not isinstance(mime, str) or not mime:
        return to_response(bad_request("fileMimeType is required"))
    if not isinstance(content, str):
        return to_response(bad_request("content must be a base64 string"))
    try:
        data = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        return to_response(bad_request("content is not valid base64"))
    item = state.add_file(sim, name, mime, data)
    return json_response({
        "fileMetadataId": item.file_id,
        "fileUri": f"users/{item.user_id}/{item.file_id}/content",
    })


async def cdn_handler(request: web.Request) -> web.StreamResponse:
    """Stored bytes for the owning session only: 404 unknown, 403 anyone else."""
    state = sim_state(request)
    early = await apply_plain_fault(request, state.take_fault(request.path, request[TOKEN_KEY]))
    if early is not None:
        return early
    item = state.files.get(request.match_info["file_id"])
    if item is None or item.user_id != request.match_info["uid"]:
        return to_response(_NOT_FOUND)
    sso, rw = parse_sso(request.headers.get("Cookie", ""))
    owner = state.tokens.get(item.token)
    if sso != item.token or rw != item.token or owner is None or owner.status != "active":
        return to_response(_FORBIDDEN)
    return web.Response(body=item.data, headers={"Content-Type": item.mime})


def add_asset_routes(app: web.Application) -> None:
    app.router.add_post(UPLOAD_PATH, upload_handler)
    app.router.add_get("/users/{uid}/{file_id}/content", cdn_handler)
