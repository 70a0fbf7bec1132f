"""Rate-limits and upload calls against a fake short-call transport."""
from __future__ import annotations

import pytest

from addons.flow import UpstreamRequest
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.ratelimits import fetch_rate_limits
from addons.upstream.upload import upload_file


class FakeTransport:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.requests: list[tuple[UpstreamRequest, float]] = []

    async def request(self, request: UpstreamRequest, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((request, timeout))
        return self.status, {}, self.body


CFG = UpstreamConfig()


async def test_rate_limits_defaults() -> None:
    tr = FakeTransport(200, b'{"remainingQueries": 3}')
    limits = await fetch_rate_limits(tr, CFG, "tok", "fast")
    assert (limits.remaining, limits.total, limits.window_seconds) == (3, 3, 86_400)
    limits = await fetch_rate_limits(tr, CFG, "tok", "heavy")
    assert limits.window_seconds == 7_200
    request, timeout = tr.requests[0]
    assert request.url == "https://grok.com/rest/rate-limits" and request.method == "POST"
    assert request.json == {"modelName": "fast"} and timeout == 20.0
    assert request.headers["Origin"] == "https://grok.com"
    assert request.headers["Referer"] == "https://grok.com/"


async def test_rate_limits_legacy_fields() -> None:
    tr = FakeTransport(200, b'{"remainingTokens": 7, "totalQueries": 9, "limits": {"windowSizeSeconds": 60}}')
    limits = await fetch_rate_limits(tr, CFG, "tok", "expert")
    assert (limits.remaining, limits.total, limits.window_seconds) == (7, 9, 60)


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
        await fetch_rate_limits(FakeTransport(status, body), CFG, "tok", "fast")
    assert info.value.status == expect_status and info.value.marker == marker


async def test_upload() -> None:
    tr = FakeTransport(200, b'{"fileId": "f2"}')
    uploaded = await upload_file(tr, CFG, "tok", "doc.pdf", "application/pdf", b"%PDF")
    assert uploaded.file_id == "f2" and uploaded.file_uri is None
    request, timeout = tr.requests[0]
    assert request.url == "https://grok.com/rest/app-chat/upload-file" and timeout == 60.0
    assert request.json == {"fileName": "doc.pdf", "fileMimeType": "application/pdf", "content": "JVBERg=="}
    with pytest.raises(UpstreamHTTPError):
        await upload_file(FakeTransport(200, b"{}"), CFG, "tok", "a", "b", b"")
    with pytest.raises(UpstreamHTTPError) as info:
        await upload_file(FakeTransport(401, b"bad-credentials"), CFG, "tok", "a", "b", b"")
    assert info.value.marker == "bad-credentials"
