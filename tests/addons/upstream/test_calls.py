"""Rate-limits and upload calls against a mock short-call transport."""
from __future__ import annotations

import pytest

from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.ratelimits import fetch_rate_limits
from addons.upstream.upload import UploadRejected, upload_file, upload_file_v2


def answering(status: int, body: bytes) -> MockTransport:
    return MockTransport(lambda _: MockResponse(status, body=body))


CFG = UpstreamConfig()


async def test_rate_limits_defaults() -> None:
    tr = answering(200, b'{"remainingQueries": 3}')
    limits = await fetch_rate_limits(tr, CFG, "tok", "fast")
    assert (limits.remaining, limits.total, limits.window_seconds) == (3, 3, 86_400)
    limits = await fetch_rate_limits(tr, CFG, "tok", "heavy")
    assert limits.window_seconds == 7_200
    request, timeout = tr.requests[0], tr.timeouts[0]
    assert request.url == "https://grok.com/rest/rate-limits" and request.method == "POST"
    assert request.json == {"modelName": "fast"} and timeout == 20.0
    assert request.headers["Origin"] == "https://grok.com"
    assert request.headers["Referer"] == "https://grok.com/"


async def test_rate_limits_legacy_fields() -> None:
    tr = answering(200, b'{"remainingTokens": 7, "totalQueries": 9, "limits": {"windowSizeSeconds": 60}}')
    limits = await fetch_rate_limits(tr, CFG, "tok", "expert")
    assert (limits.remaining, limits.total, limits.window_seconds) == (7, 9, 60)
    assert limits.wait_seconds is None


@pytest.mark.parametrize(("body", "wait"), [
    (b'{"remainingQueries": 0, "totalQueries": 50, "waitTimeSeconds": 1234}', 1234),
    (b'{"remainingQueries": 0, "rateLimits": {"waitTimeSeconds": "600"}}', 600),
    (b'{"remainingQueries": 0, "waitTimeSeconds": 0}', None),
    (b'{"remainingQueries": 0, "waitTimeSeconds": "soon"}', None),
])
async def test_rate_limits_wait_time(body: bytes, wait: int | None) -> None:
    limits = await fetch_rate_limits(answering(200, body), CFG, "tok", "auto")
    assert limits.wait_seconds == wait


@pytest.mark.parametrize(
    ("status", "body", "expect_status", "marker"),
    [
        (200, b'{"totalQueries": 5}', 502, None),
        (200, b"<html>", 502, None),
        (403, b'{"error":{"message":"User is blocked [WKE=unauthorized:blocked-user]"}}', 403, "blocked-user"),
        (403, b'{"error":{"message":"Request rejected by anti-bot rules.","code":7}}', 403, None),
        (429, b'{"error":{"message":"session not found"}}', 429, None),  # markers only on 400/401/403
    ],
)
async def test_rate_limits_errors(status: int, body: bytes, expect_status: int, marker: str | None) -> None:
    with pytest.raises(UpstreamHTTPError) as info:
        await fetch_rate_limits(answering(status, body), CFG, "tok", "fast")
    assert info.value.status == expect_status and info.value.marker == marker


async def test_upload() -> None:
    tr = answering(200, b'{"fileId": "f2"}')
    uploaded = await upload_file(tr, CFG, "tok", "doc.pdf", "application/pdf", b"%PDF")
    assert uploaded.file_id == "f2" and uploaded.file_uri is None
    request, timeout = tr.requests[0], tr.timeouts[0]
    assert request.url == "https://grok.com/rest/app-chat/upload-file" and timeout == 60.0
    assert request.json == {"fileName": "doc.pdf", "fileMimeType": "application/pdf", "content": "JVBERg=="}
    with pytest.raises(UpstreamHTTPError):
        await upload_file(answering(200, b"{}"), CFG, "tok", "a", "b", b"")
    with pytest.raises(UpstreamHTTPError) as info:
        await upload_file(answering(401, b"bad-credentials"), CFG, "tok", "a", "b", b"")
    assert info.value.marker == "bad-credentials"


async def test_upload_v2_multipart_request_and_ids() -> None:
    answer = (b'{"uploadId":"u1","terminalError":null,"fileMetadata":{"fileMetadataId":"m1",'
              b'"fileId":"f1","fileUri":"users/x/m1/content"}}')
    tr = answering(200, answer)
    uploaded = await upload_file_v2(tr, CFG, "tok", 'a"b.png', "image/png", b"\x89PNG")
    assert (uploaded.file_id, uploaded.file_uri) == ("m1", "users/x/m1/content")
    request, timeout = tr.requests[0], tr.timeouts[0]
    assert request.url == "https://grok.com/http/upload-file-v2/direct" and timeout == 60.0
    assert request.json is None and request.method == "POST"
    ctype = request.headers["Content-Type"]
    boundary = ctype.split("boundary=", 1)[1]
    assert ctype.startswith("multipart/form-data; ")
    assert request.body == (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a%22b.png"\r\n'
        f"Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG" + f"\r\n--{boundary}--\r\n".encode()
    assert b"file_source" not in request.body
    assert request.headers["Referer"] == "https://grok.com/" and "sso=tok" in request.headers["Cookie"]
    assert "x-statsig-id" not in request.headers and "x-xai-request-id" not in request.headers


@pytest.mark.parametrize(("body", "file_id"), [
    (b'{"uploadId":"u1","fileMetadata":{"fileId":"f1"}}', "f1"),
    (b'{"uploadId":"u1","terminalError":"","fileMetadata":null}', "u1"),
    (b'{"uploadId":"u1","terminalError":0}', "u1"),
])
async def test_upload_v2_id_fallbacks(body: bytes, file_id: str) -> None:
    assert (await upload_file_v2(answering(200, body), CFG, "t", "a", "b", b"")).file_id == file_id


@pytest.mark.parametrize("body", [
    b'{"uploadId":"u1","terminalError":"UNSUPPORTED_TYPE","fileMetadata":{"fileMetadataId":"m1"}}',
    b'{"uploadId":"u1","terminalError":{"code":3}}',
    b'{"uploadId":"u1","terminalError":true}',
    b'{"uploadId":"u1","terminalError":["x"]}',
    b'{"uploadId":"u1","terminalError":2}',
])
async def test_upload_v2_terminal_error_is_a_rejected_file(body: bytes) -> None:
    with pytest.raises(UploadRejected):
        await upload_file_v2(answering(200, body), CFG, "t", "a", "b", b"")


async def test_upload_v2_answer_without_an_id_is_a_502() -> None:
    with pytest.raises(UpstreamHTTPError) as info:
        await upload_file_v2(answering(200, b'{"terminalError":null,"fileMetadata":{}}'),
                             CFG, "t", "a", "b", b"")
    assert info.value.status == 502
