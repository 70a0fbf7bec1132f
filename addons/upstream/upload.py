"""`POST /rest/app-chat/upload-file`: upload one file as base64 JSON (protocol §8.1, E6)."""
from __future__ import annotations

import base64
from dataclasses import dataclass

from addons.flow import UpstreamRequest
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.ratelimits import ShortCallTransport, json_body, raise_for_status


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_id: str  # goes into the chat payload's fileAttachments
    file_uri: str | None  # e.g. users/<uid>/<id>/content (relative to the assets host)


async def upload_file(
    transport: ShortCallTransport,
    cfg: UpstreamConfig,
    token: str,
    name: str,
    mime: str,
    data: bytes,
    *,
    timeout: float | None = None,
) -> UploadedFile:
    """Upload `data`; the id is `fileMetadataId` (fallback `fileId`)."""
    headers = build_headers(cfg, token, origin=cfg.origin, referer=cfg.referer)
    body = {
        "fileName": name or "file.bin",
        "fileMimeType": mime or "application/octet-stream",
        "content": base64.b64encode(data).decode("ascii"),
    }
    req = UpstreamRequest("POST", cfg.upload_url, headers, body)
    status, _, raw = await transport.request(req, timeout or cfg.upload_timeout)
    raise_for_status(status, raw)
    answer = json_body(status, raw)
    file_id = answer.get("fileMetadataId") or answer.get("fileId")
    if not file_id or not isinstance(file_id, str):
        raise UpstreamHTTPError(502, "upload answer without fileMetadataId")
    uri = answer.get("fileUri")
    return UploadedFile(file_id=file_id, file_uri=uri if isinstance(uri, str) and uri else None)
