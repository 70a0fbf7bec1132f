"""Uploads (JSON with base64 content, and multipart; docs/upstream.md, "Uploads"); the CDN
that serves them is cdn.py, the account's file list and delete are assets_list.py."""
from __future__ import annotations

import asyncio
import base64
import binascii

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web

from ops.simulator.assets_list import add_asset_list_routes
from ops.simulator.common import FAULT_KEY, JSON_KEY, admit, json_response, sim_state, to_response
from ops.simulator.errors import bad_request
from ops.simulator.state import UPLOAD_PATH, UPLOAD_V2_PATH



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


async def _file_part(request: web.Request) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of the multipart `file` field, or None. The recorder
    already read the body, so the reader runs over those bytes rather than the socket."""
    stream = StreamReader(request.protocol, 1 << 16, loop=asyncio.get_running_loop())
    stream.feed_data(await request.read())
    stream.feed_eof()
    reader = MultipartReader(request.headers, stream)
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
            continue
        mime = part.headers.get("Content-Type") or "application/octet-stream"
        return part.filename, mime, bytes(await part.read(decode=False))
    return None


async def upload_v2_handler(request: web.Request) -> web.StreamResponse:
    """Multipart upload: like the JSON one (fault, cookies) but no statsig check; fault
    `upload_terminal_error` answers 200 with a `terminalError` and stores nothing."""
    state = sim_state(request)
    sim, refused = await admit(request, UPLOAD_V2_PATH, statsig=False)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    if not request.content_type.startswith("multipart/"):
        return to_response(bad_request("Content-Type must be multipart/form-data"))
    try:
        found = await _file_part(request)
    except (ValueError, AssertionError) as exc:
        return to_response(bad_request(f"malformed multipart body: {exc}"))
    if found is None:
        return to_response(bad_request("multipart field 'file' with a filename is required"))
    fault = request[FAULT_KEY]
    if fault is not None and fault.name == "upload_terminal_error":
        return json_response({"uploadId": "upload_rejected", "fileMetadata": None,
                              "terminalError": {"code": "INVALID_FILE", "message": "file rejected"}})
    item = state.add_file(sim, *found)
    return json_response({
        "uploadId": f"upload_{item.file_id}",
        "terminalError": None,
        "fileMetadata": {"fileMetadataId": item.file_id, "fileId": f"file_{item.file_id}",
                         "fileUri": f"users/{item.user_id}/{item.file_id}/content"},
    })


def add_asset_routes(app: web.Application) -> None:
    app.router.add_post(UPLOAD_PATH, upload_handler)
    app.router.add_post(UPLOAD_V2_PATH, upload_v2_handler)
    add_asset_list_routes(app)
