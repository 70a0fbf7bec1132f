"""gRPC-web framing and one unary call.

A body is a sequence of frames: 1 flag byte (0x00 data, 0x01 compressed, 0x80 trailers),
a big-endian uint32 length, the payload. Requests are one uncompressed data frame holding a
protobuf message; replies are data frames then a trailer frame of `name:value` lines.
`grpc-status` may come in the trailer frame or as an HTTP header; missing means success.
A `grpc-web-text` reply (or a body that looks like base64) is base64-decoded first.

The messages grok.com takes are tiny and fixed, so protobuf is written by hand with the two
encoders below rather than with a protobuf library.
"""
from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import unquote

from addons.upstream.wire import UpstreamRequest
from addons.upstream.classify import UpstreamHTTPError, excerpt, invalid_credentials_marker
from addons.upstream.headers import build_headers

if TYPE_CHECKING:  # pragma: no cover
    from addons.upstream.config import UpstreamConfig

__all__ = [
    "FLAG_COMPRESSED", "FLAG_DATA", "FLAG_TRAILER", "GRPC_WEB_CONTENT_TYPE", "GrpcWebError",
    "GrpcWebReply", "decode_body", "encode_frame", "encode_message", "encode_trailers",
    "grpc_call", "grpc_headers", "grpc_status_to_http", "parse_frames", "parse_reply",
    "pb_bytes", "pb_varint",
]

FLAG_DATA = 0x00
FLAG_COMPRESSED = 0x01
FLAG_TRAILER = 0x80
GRPC_WEB_CONTENT_TYPE = "application/grpc-web+proto"
_HEADER = struct.Struct(">BI")
#: grpc-status → the HTTP-like status it is reported as; anything else is 502.
_STATUS_MAP = {4: 504, 7: 403, 8: 429, 14: 503, 16: 401}
_B64_RE = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_B64_PIECE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_CREDENTIAL_STATUSES = frozenset({400, 401, 403})


class GrpcWebError(ValueError):
    """A reply body that is not valid gRPC-web framing (truncated, compressed …)."""


# ---------------------------------------------------------------------- protobuf, by hand
def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_varint(field_no: int, value: int) -> bytes:
    """A protobuf varint field (wire type 0)."""
    return _varint(field_no << 3) + _varint(value)


def pb_bytes(field_no: int, value: bytes | str) -> bytes:
    """A protobuf length-delimited field (wire type 2): bytes, a string or a sub-message."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint(field_no << 3 | 2) + _varint(len(data)) + data


# ---------------------------------------------------------------------- framing
def encode_frame(payload: bytes, flags: int = FLAG_DATA) -> bytes:
    return _HEADER.pack(flags, len(payload)) + payload


def encode_message(message: bytes) -> bytes:
    """A request body: one uncompressed data frame."""
    return encode_frame(message, FLAG_DATA)


def encode_trailers(trailers: Mapping[str, Any]) -> bytes:
    """A trailer frame: `name:value\\r\\n` per entry."""
    text = "".join(f"{k}:{v}\r\n" for k, v in trailers.items())
    return encode_frame(text.encode("utf-8"), FLAG_TRAILER)


def _looks_base64(body: bytes) -> bool:
    head = body[:2048]
    return bool(head.strip()) and _B64_RE.match(head) is not None


def decode_body(body: bytes, content_type: str = "") -> bytes:
    """Base64-decode a `grpc-web-text` reply (or one whose first 2 KiB look like base64).
    Each frame may be encoded on its own, so padded pieces are decoded one by one."""
    if "grpc-web-text" not in content_type.lower() and not _looks_base64(body):
        return body
    compact = b"".join(body.split())
    try:
        return b"".join(base64.b64decode(p) for p in _B64_PIECE.findall(compact))
    except (binascii.Error, ValueError) as exc:
        raise GrpcWebError(f"bad base64 in grpc-web-text reply: {exc}") from None


def _parse_trailer_text(text: str, into: dict[str, str]) -> None:
    for line in re.split(r"\r?\n", text):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            continue
        key = name.strip().lower()
        value = value.strip()
        into[key] = unquote(value) if key == "grpc-message" else value


def parse_frames(data: bytes) -> tuple[list[bytes], dict[str, str]]:
    """(data frame payloads, trailers with lower-cased names) of an already decoded body."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < _HEADER.size:
            raise GrpcWebError("truncated gRPC-web frame header")
        flags, length = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        if size - pos < length:
            raise GrpcWebError("truncated gRPC-web frame")
        payload = data[pos:pos + length]
        pos += length
        if flags & FLAG_TRAILER:
            _parse_trailer_text(payload.decode("utf-8", "replace"), trailers)
        elif flags & FLAG_COMPRESSED:
            raise GrpcWebError("compressed gRPC-web frames are not supported")
        else:
            messages.append(payload)
    return messages, trailers


@dataclass(slots=True)
class GrpcWebReply:
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    #: grpc-status; None when neither the trailers nor the headers carried one (success)
    grpc_status: int | None = None
    grpc_message: str = ""

    @property
    def ok(self) -> bool:
        return not self.grpc_status


def grpc_status_to_http(code: int) -> int:
    return _STATUS_MAP.get(code, 502)


def parse_reply(headers: Mapping[str, str], body: bytes) -> GrpcWebReply:
    """Decode and parse a 200 reply; the trailer frame wins over HTTP headers."""
    hdrs = {k.lower(): v for k, v in headers.items()}
    messages, trailers = parse_frames(decode_body(body, hdrs.get("content-type", "")))
    raw_status = trailers.get("grpc-status", hdrs.get("grpc-status"))
    message = trailers.get("grpc-message")
    if message is None:
        message = unquote(hdrs.get("grpc-message", ""))
    status: int | None = None
    if raw_status is not None and raw_status.strip():
        try:
            status = int(raw_status.strip())
        except ValueError:
            raise GrpcWebError(f"bad grpc-status {raw_status[:20]!r}") from None
    return GrpcWebReply(messages, trailers, status, message)


# ---------------------------------------------------------------------- one call
def grpc_headers(cfg: UpstreamConfig, token: str, *, origin: str, referer: str) -> dict[str, str]:
    """The REST header set with the gRPC-web overrides."""
    headers = build_headers(cfg, token, origin=origin, referer=referer,
                            content_type=GRPC_WEB_CONTENT_TYPE)
    headers["Accept"] = "*/*"
    headers["Sec-Fetch-Dest"] = "empty"
    headers["x-grpc-web"] = "1"
    headers["x-user-agent"] = "connect-es/2.1.1"
    headers["Cache-Control"] = "no-cache"
    headers["Pragma"] = "no-cache"
    return headers


async def grpc_call(transport: Any, url: str, headers: dict[str, str], message: bytes, *,
                    timeout: float, **kw: Any) -> GrpcWebReply:
    """POST one framed message. Raises `UpstreamHTTPError` for a non-200 status, a non-zero
    grpc-status (mapped by `_STATUS_MAP`; an invalid-credential marker in the body or
    grpc-message is carried on the error) or a reply that is not gRPC-web."""
    req = UpstreamRequest("POST", url, headers, body=encode_message(message))
    status, resp_headers, body = await transport.request(req, timeout, **kw)
    if status != 200:
        text = body[:65536].decode("utf-8", "replace")
        marker = invalid_credentials_marker(text) if status in _CREDENTIAL_STATUSES else None
        raise UpstreamHTTPError(status, excerpt(text), marker)
    try:
        reply = parse_reply(resp_headers, body)
    except GrpcWebError as exc:
        raise UpstreamHTTPError(502, f"malformed gRPC-web reply: {exc}") from None
    if not reply.ok:
        mapped = grpc_status_to_http(reply.grpc_status or 0)
        marker = (invalid_credentials_marker(reply.grpc_message)
                  if mapped in _CREDENTIAL_STATUSES else None)
        detail = f"grpc-status {reply.grpc_status}"
        if reply.grpc_message:
            detail += ": " + excerpt(reply.grpc_message)
        raise UpstreamHTTPError(mapped, detail, marker)
    return reply
