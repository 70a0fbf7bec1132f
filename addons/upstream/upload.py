"""Upload one file: base64 JSON `POST /rest/app-chat/upload-file` (used with the REST chat)
or multipart `POST /http/upload-file-v2/direct` (used with the mgw chat). Both have the
signature of `Uploader`."""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any, Protocol

from addons.upstream.wire import UpstreamRequest
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.ratelimits import ShortCallTransport, json_body, raise_for_status

UPLOAD_V2_PATH = "/http/upload-file-v2/direct"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_id: str  # goes into the chat payload's fileAttachments
    file_uri: str | None  # e.g. users/<uid>/<id>/content (relative to the assets host)


class Uploader(Protocol):
    async def __call__(self, transport: ShortCallTransport, cfg: UpstreamConfig, token: str,
                       name: str, mime: str, data: bytes, *,
                       timeout: float | None = None) -> UploadedFile: ...


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


def _quote_name(value: str) -> str:
    """A form-data parameter value as browsers write it (WHATWG: `"`, CR, LF escaped)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def multipart_body(name: str, mime: str, data: bytes,
                   file_source: str | None = None) -> tuple[bytes, str]:
    """One `file` part, then `file_source` when given (Imagine uploads; chat attachments
    send none): (body, boundary)."""
    boundary = "----WebKitFormBoundary" + base64.b64encode(os.urandom(12), b"AB").decode()[:16]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{_quote_name(name or "file.bin")}"\r\n'
            f"Content-Type: {mime or 'application/octet-stream'}\r\n\r\n").encode("utf-8")
    tail = ""
    if file_source:
        tail = (f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file_source"'
                f"\r\n\r\n{file_source}")
    return head + data + f"{tail}\r\n--{boundary}--\r\n".encode("ascii"), boundary


def _rejected(value: Any) -> bool:
    """A non-empty `terminalError` (string, object, array, true, non-zero) rejects the upload."""
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)


class UploadRejected(Exception):
    """grok.com accepted the call but refused the file (`terminalError`: type, size, content)."""


async def upload_file_v2(
    transport: ShortCallTransport,
    cfg: UpstreamConfig,
    token: str,
    name: str,
    mime: str,
    data: bytes,
    *,
    timeout: float | None = None,
    file_source: str | None = None,
    referer: str | None = None,
) -> UploadedFile:
    """Multipart upload: no `x-xai-request-id`, no statsig, Referer `https://grok.com/`
    (an Imagine upload passes its `file_source` and Referer). The id is `fileMetadata.fileMetadataId`, else `fileId`, else `uploadId`; a non-empty
    `terminalError` is grok.com refusing this file (UploadRejected): the file's fault, not the
    account's."""
    body, boundary = multipart_body(name, mime, data, file_source)
    headers = build_headers(cfg, token, origin=cfg.origin, referer=referer or cfg.referer,
                            content_type=f"multipart/form-data; boundary={boundary}")
    headers.pop("x-statsig-id", None)
    headers.pop("x-xai-request-id", None)
    req = UpstreamRequest("POST", cfg.base_url + UPLOAD_V2_PATH, headers, body=body)
    status, _, raw = await transport.request(req, timeout or cfg.upload_timeout)
    raise_for_status(status, raw)
    answer = json_body(status, raw)
    error = answer.get("terminalError")
    if _rejected(error):
        raise UploadRejected(str(error)[:300])
    meta = answer.get("fileMetadata")
    meta = meta if isinstance(meta, dict) else {}
    file_id = next((v for v in (meta.get("fileMetadataId"), meta.get("fileId"), answer.get("uploadId"))
                    if isinstance(v, str) and v), None)
    if file_id is None:
        raise UpstreamHTTPError(502, "upload answer without fileMetadataId, fileId or uploadId")
    uri = meta.get("fileUri")
    return UploadedFile(file_id=file_id, file_uri=uri if isinstance(uri, str) and uri else None)
