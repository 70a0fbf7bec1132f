"""The attachments addon on the real chain and pipeline with an in-memory upstream: resolve
once, upload per leased account, fail over on an upload failure, 400s for client mistakes."""
from __future__ import annotations

import base64

import pytest

from addons import build_chain
from addons.attachments import Attachments
from addons.services.catalogue import Catalogue
from addons.errors import ApiError
from addons.flow import Attachment, ChatRequest, Flow, Message
from addons.pipeline import Pipeline
from addons.upstream.mock import MockResponse, MockTransport, sso_token
from addons.upstream_request import CHAT_PATH
from state.pool import AccountPool
from state.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n-fake-png"
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
INVALID_CREDS = b'{"error":{"code":16,"message":"Invalid credentials [WKE=unauthorized:invalid-credentials]"}}'


class Upstream(MockTransport):
    """Chat (`open`) and upload (`request`) on one mock; each fault answers the first call of
    its kind only. `uploads` and `chats` are (account, JSON body) pairs."""

    def __init__(self, upload_fault=None, chat_fault=None) -> None:
        super().__init__(self.answer)
        self.uploads: list[tuple[str, dict]] = []
        self.chats: list[tuple[str, dict]] = []
        self.faults = {"upload": upload_fault, "chat": chat_fault}

    def answer(self, req) -> MockResponse:
        kind = "chat" if req.url.endswith(CHAT_PATH) else "upload"
        calls = self.chats if kind == "chat" else self.uploads
        calls.append((sso_token(req), req.json))
        fault, self.faults[kind] = self.faults[kind], None
        if fault is not None:
            return MockResponse(fault[0], body=fault[1])
        if kind == "chat":
            return MockResponse.text("seen")
        return MockResponse.json({"fileMetadataId": f"{sso_token(req)}-file-{len(self.uploads)}"})


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def setup(settings, upstream, *tokens):
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    chain.get(Attachments).bind(upstream)
    return Pipeline(chain, upstream, settings), pool


def flow_with(*attachments: Attachment, text: str = "what is this?") -> Flow:
    msg = Message("user", [text] if text else [], attachments=list(attachments))
    return Flow(request=ChatRequest(model="grok-4.20-fast", messages=[msg], stream=False))


async def run(pipeline, flow):
    await pipeline.open(flow)
    try:
        async for _ in pipeline.events(flow):
            pass
    finally:
        await pipeline.close(flow)


async def test_data_uri_is_uploaded_to_the_leased_account_and_attached(settings):
    upstream = Upstream()
    pipeline, pool = setup(settings, upstream, "a")
    await run(pipeline, flow_with(Attachment("image", PNG_URI), Attachment("file", PNG_URI, "x.pdf")))
    (tok1, first), (tok2, second) = upstream.uploads
    assert tok1 == tok2 == "a"
    assert base64.b64decode(first["content"]) == PNG
    assert (first["fileMimeType"], first["fileName"]) == ("image/png", "file.png")
    assert second["fileName"] == "x.pdf"
    (chat_token, payload), = upstream.chats
    assert chat_token == "a" and payload["fileAttachments"] == ["a-file-1", "a-file-2"]
    assert pool.count_inflight() == 0


async def test_no_attachments_means_no_upload_and_empty_file_list(settings):
    upstream = Upstream()
    pipeline, _ = setup(settings, upstream, "a")
    await run(pipeline, flow_with())
    assert upstream.uploads == [] and upstream.chats[0][1]["fileAttachments"] == []


async def test_upload_invalid_credentials_fails_over_and_uploads_again(settings):
    upstream = Upstream(upload_fault=(401, INVALID_CREDS))
    pipeline, pool = setup(settings, upstream, "a", "b")
    await run(pipeline, flow_with(Attachment("image", PNG_URI)))
    bad, good = [t for t, _ in upstream.uploads]
    assert bad != good
    (chat_token, payload), = upstream.chats  # the failed account never got the chat
    assert chat_token == good and payload["fileAttachments"] == [f"{good}-file-2"]
    assert pool.get(bad).status == "expired" and pool.get(good).status == "active"
    assert pool.count_inflight() == 0


async def test_chat_failure_on_another_account_reuploads_there(settings):
    upstream = Upstream(chat_fault=(429, "Too many requests"))
    pipeline, _ = setup(settings, upstream, "a", "b")
    await run(pipeline, flow_with(Attachment("image", PNG_URI)))
    tokens = [t for t, _ in upstream.uploads]
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert [t for t, _ in upstream.chats] == tokens
    assert upstream.chats[1][1]["fileAttachments"] == [f"{tokens[1]}-file-2"]


async def test_upload_failure_without_retry_is_an_upstream_error(settings):
    upstream = Upstream(upload_fault=(500, b'{"error":"internal"}'))
    pipeline, pool = setup(settings, upstream, "a")
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(Attachment("image", PNG_URI)))
    # the status and the kind, never grok.com's body (the log has it)
    assert info.value.status == 502 and "upstream 500" in info.value.message
    assert "internal" not in info.value.message
    assert upstream.chats == [] and pool.count_inflight() == 0


@pytest.mark.parametrize("attachment,code", [
    (Attachment("image", "data:image/png;base64,@@notbase64@@"), "invalid_data_uri"),
    (Attachment("image", "http://127.0.0.1:9/a.png"), "invalid_image_url"),
    (Attachment("file", "http://169.254.169.254/latest"), "invalid_file_url"),
])
async def test_bad_attachment_is_a_400_before_any_account_is_touched(settings, attachment, code):
    upstream = Upstream()
    pipeline, pool = setup(settings, upstream, "a")
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(Attachment("image", PNG_URI), attachment))
    err = info.value
    assert (err.status, err.code, err.param) == (400, code, "messages")
    assert "attachment 2" in err.message
    assert upstream.uploads == upstream.chats == []
    assert pool.get("a").usage_fail_count == 0 and pool.count_inflight() == 0


async def test_limits(tmp_path):
    settings = Settings(tmp_path / "c.toml", environ={"GROK_ATTACHMENTS_MAX_COUNT": "2",
                                                      "GROK_ATTACHMENTS_MAX_TOTAL_BYTES": "30",
                                                      "GROK_ATTACHMENTS_MAX_FILE_BYTES": "20"})
    pipeline, _ = setup(settings, Upstream(), "a")
    small = Attachment("image", PNG_URI)  # 17 bytes
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(small, small, small))
    assert info.value.code == "too_many_attachments"
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(small, small))
    assert info.value.code == "attachment_too_large"
    big = Attachment("file", "data:text/plain;base64," + base64.b64encode(b"x" * 21).decode())
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(big))
    assert info.value.code == "invalid_data_uri" and "20 byte limit" in info.value.message


async def test_attachments_without_any_text_keep_the_empty_prompt_400(settings):
    upstream = Upstream()
    pipeline, _ = setup(settings, upstream, "a")
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow_with(Attachment("image", "http://127.0.0.1:9/x.png"), text=""))
    assert (info.value.status, info.value.param) == (400, "messages")
    assert "Empty message" in info.value.message
