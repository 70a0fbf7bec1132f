"""Image and file input end to end: the official clients send images as data URIs and URLs;
the gateway uploads them to the account that serves the chat and attaches the ids."""
from __future__ import annotations

import base64
from typing import AsyncIterator

import anthropic
import openai
import pytest
import pytest_asyncio
from aiohttp import web

from ops.simulator.state import UPLOAD_PATH, UPLOAD_V2_PATH

CHAT = "/rest/app-chat/conversations/new"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
PRIVATE_OK = {"GROK_ATTACHMENTS_ALLOW_PRIVATE_URLS": "true"}


class ImageSite:
    def __init__(self) -> None:
        self.hits: list[dict[str, str]] = []
        self.url = ""


@pytest_asyncio.fixture
async def image_site() -> AsyncIterator[ImageSite]:
    """A PNG on a loopback web server: reachable only when private URLs are allowed."""
    site = ImageSite()

    async def png(request: web.Request) -> web.Response:
        site.hits.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/pics/cat.png", png)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    site.url = f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}/pics/cat.png"  # type: ignore[union-attr]
    try:
        yield site
    finally:
        await runner.cleanup()


def user_with_image(url: str, text: str = "What is in this picture?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]


def assert_uploaded_and_attached(stack, token: str, data: bytes = PNG, mime: str = "image/png") -> None:
    """The simulator stored the bytes for `token`, and that token's chat attached the id."""
    files = [f for f in stack.sim.state.files.values() if f.token == token]
    assert [(f.data, f.mime) for f in files] == [(data, mime)]
    chat = stack.sim.state.requests_to(CHAT)[-1]
    assert chat.token == token
    assert chat.json["fileAttachments"] == [files[0].file_id]
    assert "base64" not in chat.json["message"]  # never inlined into the prompt


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_image_by_data_uri(stack, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(
            model="grok-4.20-fast", messages=user_with_image(PNG_URI), stream=True)]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        r = await client.chat.completions.create(model="grok-4.20-fast",
                                                 messages=user_with_image(PNG_URI))
        assert r.choices[0].message.content
    assert_uploaded_and_attached(stack, "tok-a")
    upload = stack.sim.state.requests_to(UPLOAD_PATH)[0]
    assert upload.json["fileName"] == "file.png" and upload.json["fileMimeType"] == "image/png"


async def test_openai_image_by_url(stack, image_site):
    await stack.start_gateway(**PRIVATE_OK)
    stack.add_account("tok-a", "basic")
    r = await stack.openai().chat.completions.create(model="grok-4.20-fast",
                                                     messages=user_with_image(image_site.url))
    assert r.choices[0].message.content
    assert_uploaded_and_attached(stack, "tok-a")
    assert stack.sim.state.requests_to(UPLOAD_PATH)[0].json["fileName"] == "cat.png"
    (hit,) = image_site.hits  # fetched once, with no account cookie or grok.com header
    assert "cookie" not in hit and "x-statsig-id" not in hit and "tok-a" not in str(hit)


async def test_responses_input_image_and_file(stack, image_site):
    await stack.start_gateway(**PRIVATE_OK)
    stack.add_account("tok-a", "basic")
    pdf = b"%PDF-1.4 tiny"
    r = await stack.openai().responses.create(model="grok-4.20-fast", input=[{
        "role": "user", "content": [
            {"type": "input_text", "text": "Compare these."},
            {"type": "input_image", "image_url": image_site.url},
            {"type": "input_file", "filename": "spec.pdf",
             "file_data": "data:application/pdf;base64," + base64.b64encode(pdf).decode()}]}])
    assert r.output_text
    files = sorted(stack.sim.state.files.values(), key=lambda f: f.mime)
    assert [(f.token, f.mime, f.data, f.file_name) for f in files] == [
        ("tok-a", "application/pdf", pdf, "spec.pdf"), ("tok-a", "image/png", PNG, "cat.png")]
    chat = stack.sim.state.requests_to(CHAT)[-1]
    assert sorted(chat.json["fileAttachments"]) == sorted(f.file_id for f in files)


async def test_anthropic_image_base64_and_url(stack, image_site):
    await stack.start_gateway(**PRIVATE_OK)
    stack.add_account("tok-a", "basic")
    client = anthropic.AsyncAnthropic(base_url=stack.url, api_key="unused", max_retries=0)
    stack.clients.append(client)
    msg = await client.messages.create(model="grok-4.20-fast", max_tokens=50, messages=[{
        "role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(PNG).decode()}},
            {"type": "image", "source": {"type": "url", "url": image_site.url}},
            {"type": "text", "text": "Same picture twice?"}]}])
    assert msg.content[0].text
    files = list(stack.sim.state.files.values())
    assert [(f.token, f.data, f.mime) for f in files] == [("tok-a", PNG, "image/png")] * 2
    chat = stack.sim.state.requests_to(CHAT)[-1]
    assert chat.token == "tok-a" and len(chat.json["fileAttachments"]) == 2


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("url,code,param", [
    ("data:image/png;base64,@@not-base64@@", "invalid_data_uri", "messages"),
    ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", "invalid_value", "messages.0.content.1.image_url.url"),
    ("data:image/png,rawbytes", "invalid_value", "messages.0.content.1.image_url.url"),
])
async def test_bad_data_uri_is_a_400(stack, url, code, param, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=user_with_image(url), stream=stream)
    body = info.value.body
    assert (body["type"], body["code"], body["param"]) == ("validation_error", code, param)
    assert stack.sim.state.requests_to(UPLOAD_PATH) == [] and stack.sim.state.requests_to(CHAT) == []


async def test_loopback_image_url_is_refused_by_default(stack, image_site):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-fast", messages=user_with_image(image_site.url))
    body = info.value.body
    assert body["code"] == "invalid_image_url" and "private or reserved" in body["message"]
    assert image_site.hits == []
    assert stack.sim.state.requests_to(UPLOAD_PATH) == [] and stack.sim.state.files == {}
    assert stack.sim.state.requests_to(CHAT) == []
    acc = stack.gateway.pool.get("tok-a")
    assert acc.status == "active" and acc.usage_fail_count == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_upload_failure_fails_over_to_another_account(stack, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("401", times=1, path=UPLOAD_PATH)  # invalid-credentials marker
    client = stack.openai()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(
            model="grok-4.20-fast", messages=user_with_image(PNG_URI), stream=True)]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        r = await client.chat.completions.create(model="grok-4.20-fast",
                                                 messages=user_with_image(PNG_URI))
        assert r.choices[0].message.content
    first, second = [r.token for r in stack.sim.state.requests_to(UPLOAD_PATH)]
    assert first != second
    assert [r.token for r in stack.sim.state.requests_to(CHAT)] == [second]
    assert_uploaded_and_attached(stack, second)
    assert stack.gateway.pool.get(first).status == "expired"
    assert stack.gateway.pool.get(second).status == "active"


@pytest.mark.parametrize("chat_transport", ["mgw"])
@pytest.mark.parametrize("stream", [False, True])
async def test_mgw_uploads_by_multipart_and_attaches_the_ids(stack, image_site, stream):
    """With the mgw transport the files go through `/http/upload-file-v2/direct` (multipart),
    without statsig or request id, and their ids reach the mgw item's file_attachment_ids."""
    await stack.start_gateway(**PRIVATE_OK)
    stack.add_account("tok-a", "basic")
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": PNG_URI}},
        {"type": "image_url", "image_url": {"url": image_site.url}}]}]
    client = stack.openai()
    if stream:
        chunks = [c async for c in await client.chat.completions.create(
            model="grok-4.20-fast", messages=messages, stream=True)]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        r = await client.chat.completions.create(model="grok-4.20-fast", messages=messages)
        assert r.choices[0].message.content
    assert stack.sim.state.requests_to(UPLOAD_PATH) == []
    uploads = stack.sim.state.requests_to(UPLOAD_V2_PATH)
    assert len(uploads) == 2 and {u.token for u in uploads} == {"tok-a"}
    for u in uploads:
        assert u.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert "x-statsig-id" not in u.headers and "x-xai-request-id" not in u.headers
        assert u.headers["referer"] == "https://grok.com/" and PNG in u.body
    assert sorted(b'filename="' + n + b'"' in u.body for u in uploads for n in (b"file.png", b"cat.png")) \
        == [False, False, True, True]
    files = list(stack.sim.state.files.values())
    assert [(f.token, f.data, f.mime) for f in files] == [("tok-a", PNG, "image/png")] * 2
    chat = stack.last_chat()
    assert chat.token == "tok-a" and sorted(chat.file_ids) == sorted(f.file_id for f in files)
    assert "base64" not in (chat.message or "")


@pytest.mark.parametrize("chat_transport", ["mgw"])
async def test_mgw_upload_refused_by_grok_is_a_400_without_account_penalty(stack):
    """A `terminalError` is grok.com refusing the file: the client's input, not the account."""
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.sim.state.inject("upload_terminal_error", times=1, path=UPLOAD_V2_PATH)
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().chat.completions.create(model="grok-4.20-fast",
                                                     messages=user_with_image(PNG_URI))
    assert info.value.body["code"] == "attachment_rejected"
    assert stack.chats() == [] and stack.sim.state.files == {}
    acc = stack.gateway.pool.get("tok-a")
    assert acc.status == "active" and acc.usage_fail_count == 0 and acc.inflight == 0
