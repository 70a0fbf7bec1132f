"""gRPC-web framing (docs/upstream.md, "Account settings (NSFW)") and one call against a
fake transport."""
from __future__ import annotations

import base64

import pytest

from addons.upstream.mock import MockResponse, MockTransport
from addons.services.nsfw import TOS_MESSAGE, feature_controls_message
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.grpc_web import (
    GrpcWebError,
    decode_body,
    encode_frame,
    encode_message,
    encode_trailers,
    grpc_call,
    grpc_headers,
    grpc_status_to_http,
    parse_frames,
    parse_reply,
    pb_bytes,
    pb_varint,
)

#: The minimal successful reply: an empty data frame, then the trailer `grpc-status:0`.
MINIMAL_OK = bytes.fromhex("0000000000" "800000000f") + b"grpc-status:0\r\n"


def test_request_bodies_are_the_spec_bytes() -> None:
    assert encode_message(TOS_MESSAGE) == bytes.fromhex("00000000021001")
    on = encode_message(feature_controls_message(True))
    assert len(on) == 37
    assert on == bytes.fromhex(
        "0000000020" "0a021001" "121a0a18" "616c776179735f73686f775f" "6e7366775f636f6e74656e74")
    off = encode_message(feature_controls_message(False))
    assert off[:9] == bytes.fromhex("00000000200a021000") and off[9:] == on[9:]


def test_protobuf_helpers() -> None:
    assert pb_varint(2, 1) == b"\x10\x01"
    assert pb_varint(1, 300) == b"\x08\xac\x02"
    assert pb_bytes(1, "ab") == b"\x0a\x02ab"
    assert pb_bytes(3, b"x" * 200)[:3] == b"\x1a\xc8\x01"


def test_encode_and_parse_round_trip() -> None:
    body = encode_frame(b"one") + encode_frame(b"") + encode_trailers(
        {"grpc-status": 0, "grpc-message": "fine"})
    messages, trailers = parse_frames(body)
    assert messages == [b"one", b""]
    assert trailers == {"grpc-status": "0", "grpc-message": "fine"}
    assert encode_trailers({"grpc-status": 0}) == MINIMAL_OK[5:]


def test_parse_minimal_reply() -> None:
    reply = parse_reply({"Content-Type": "application/grpc-web+proto"}, MINIMAL_OK)
    assert reply.ok and reply.grpc_status == 0 and reply.messages == [b""]


def test_trailer_lines_lf_names_lowercased_message_url_decoded() -> None:
    body = encode_frame(b"Grpc-Status:7\nGRPC-MESSAGE:User%20is%20blocked\n", 0x80)
    reply = parse_reply({}, body)
    assert reply.grpc_status == 7 and reply.grpc_message == "User is blocked" and not reply.ok


def test_status_from_headers_and_missing_status() -> None:
    reply = parse_reply({"grpc-status": "16", "grpc-message": "no%20session"}, encode_frame(b""))
    assert (reply.grpc_status, reply.grpc_message) == (16, "no session")
    # trailer frame wins over the header
    reply = parse_reply({"grpc-status": "16"}, MINIMAL_OK)
    assert reply.grpc_status == 0
    missing = parse_reply({}, encode_frame(b"data"))
    assert missing.grpc_status is None and missing.ok


def test_grpc_web_text_reply_decoded_piece_by_piece() -> None:
    frames = [encode_frame(b"hi"), encode_trailers({"grpc-status": 0})]
    text = b"".join(base64.b64encode(f) for f in frames)  # padded pieces, concatenated
    assert b"=" in text[:-2]
    reply = parse_reply({"content-type": "application/grpc-web-text+proto"}, text)
    assert reply.messages == [b"hi"] and reply.grpc_status == 0
    # without the content type, a body that looks like base64 is decoded too
    assert decode_body(base64.b64encode(MINIMAL_OK) + b"\n") == MINIMAL_OK
    assert decode_body(MINIMAL_OK) == MINIMAL_OK  # binary stays as is


@pytest.mark.parametrize("body", [b"\x00\x00\x00", b"\x00\x00\x00\x00\x05ab",
                                  encode_frame(b"zz", 0x01)])
def test_bad_framing(body: bytes) -> None:
    with pytest.raises(GrpcWebError):
        parse_frames(body)


def test_status_mapping() -> None:
    assert [grpc_status_to_http(c) for c in (4, 7, 8, 14, 16, 9, 13)] == [
        504, 403, 429, 503, 401, 502, 502]


def answering(status: int, headers: dict[str, str], body: bytes) -> MockTransport:
    return MockTransport(lambda _: MockResponse(status, body=body, headers=headers))


def test_grpc_headers() -> None:
    headers = grpc_headers(UpstreamConfig(), "tok", origin="https://grok.com",
                           referer="https://grok.com/?_s=data")
    for name, value in {"Content-Type": "application/grpc-web+proto", "Accept": "*/*",
                        "x-grpc-web": "1", "x-user-agent": "connect-es/2.1.1",
                        "Cache-Control": "no-cache", "Pragma": "no-cache",
                        "Sec-Fetch-Dest": "empty", "Origin": "https://grok.com",
                        "Referer": "https://grok.com/?_s=data",
                        "Sec-Fetch-Site": "same-origin"}.items():
        assert headers[name] == value, name
    assert headers["Cookie"].startswith("sso=tok; sso-rw=tok")


async def test_grpc_call_success_sends_one_frame() -> None:
    tr = answering(200, {"content-type": "application/grpc-web+proto"}, MINIMAL_OK)
    reply = await grpc_call(tr, "https://x/y", {"A": "b"}, b"\x10\x01", timeout=7)
    assert reply.ok
    request, timeout = tr.requests[0], tr.timeouts[0]
    assert request.body == bytes.fromhex("00000000021001") and request.json is None
    assert (request.method, request.url, timeout) == ("POST", "https://x/y", 7)


async def test_grpc_call_errors() -> None:
    blocked = b'{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}'
    with pytest.raises(UpstreamHTTPError) as info:
        await grpc_call(answering(403, {}, blocked), "u", {}, b"", timeout=1)
    assert info.value.status == 403 and info.value.marker == "blocked-user"
    with pytest.raises(UpstreamHTTPError) as info:
        await grpc_call(answering(429, {}, b"[WKE=unauthorized:blocked-user]"), "u", {}, b"",
                        timeout=1)
    assert info.value.status == 429 and info.value.marker is None  # markers only on 400/401/403
    trailer = encode_trailers({"grpc-status": 16, "grpc-message":
                               "bad%20%5BWKE%3Dunauthorized%3Ainvalid-credentials%5D"})
    with pytest.raises(UpstreamHTTPError) as info:
        await grpc_call(answering(200, {}, trailer), "u", {}, b"", timeout=1)
    assert info.value.status == 401 and info.value.marker == "invalid-credentials"
    with pytest.raises(UpstreamHTTPError) as info:
        await grpc_call(answering(200, {}, encode_trailers({"grpc-status": 9})), "u", {}, b"",
                        timeout=1)
    assert info.value.status == 502 and info.value.marker is None
    with pytest.raises(UpstreamHTTPError) as info:
        await grpc_call(answering(200, {}, b"\x00\x00"), "u", {}, b"", timeout=1)
    assert info.value.status == 502 and "malformed" in str(info.value)
