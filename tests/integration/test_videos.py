"""`/v1/videos` over real sockets: the official openai client against the gateway against the
simulator (media posts, uploads, the video chat stream, the owner-only CDN)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import io

import aiohttp
import openai
import pytest
from aiohttp import web

from ops.simulator.media import generated_image, generated_video
from ops.simulator.state import CHAT_PATH, MEDIA_POST_PATH, UPLOAD_PATH

KEY = "sk-videos"
PROMPT = "a neon street at night"


@pytest.fixture
async def vstack(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY, GROK_VIDEO_PROGRESS_INTERVAL_SEC="0")
    stack.add_account("tok-video-1")
    return stack


def video_chats(stack) -> list:
    return [r for r in stack.sim.state.requests_to(CHAT_PATH)
            if (r.json or {}).get("modelName") == "imagine-video-gen"]


async def wait_done(client, video_id: str, timeout: float = 20.0, seen: list | None = None):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        video = await client.videos.retrieve(video_id)
        if seen is not None:
            seen.append((video.status, video.progress))
        if video.status in ("completed", "failed"):
            return video
        assert loop.time() < deadline, f"video still {video.status}"
        await asyncio.sleep(0.05)


async def test_lifecycle_through_content_with_range(vstack):
    client = vstack.openai(KEY)
    prompt = PROMPT + " [[sim progress_frames=6 delay_ms=60]]"
    created = await client.videos.create(model="grok-imagine-video", prompt=prompt,
                                         seconds="10", size="1280x720")
    assert created.status == "queued" and created.progress == 0
    assert created.id.startswith("video_") and created.seconds == "10"
    seen: list = []
    video = await wait_done(client, created.id, seen=seen)
    assert video.status == "completed", video.error
    assert video.progress == 100 and video.completed_at is not None
    assert ("in_progress" in {s for s, _ in seen})
    assert all(1 <= p <= 99 for s, p in seen if s == "in_progress")
    expected = generated_video(prompt, 10, "720p", "16:9")
    content = await client.videos.download_content(created.id)
    assert content.read() == expected
    async with aiohttp.ClientSession() as browser:  # the link plays without the API key
        async with browser.get(video.model_extra["video_url"]) as resp:
            assert resp.status == 200 and await resp.read() == expected
    # one segment: a text-to-video post, then one call with the parent post and the ratio
    posts = vstack.sim.state.requests_to(MEDIA_POST_PATH)
    assert [p.json["mediaType"] for p in posts] == ["MEDIA_POST_TYPE_VIDEO"]
    [chat] = video_chats(vstack)
    config = chat.json["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert config["aspectRatio"] == "16:9" and config["videoLength"] == 10
    assert chat.json["message"].endswith("--mode=custom")
    async with vstack.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.get(f"/v1/videos/{created.id}/content",
                            headers={"Range": "bytes=100-199"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes 100-199/{len(expected)}"
            assert await resp.read() == expected[100:200]
        async with http.get(f"/v1/videos/{created.id}/content") as resp:
            assert resp.headers["Content-Type"] == "video/mp4"
            assert f'filename="{created.id}.mp4"' in resp.headers["Content-Disposition"]


async def test_twelve_seconds_is_a_segment_and_an_extension(vstack):
    client = vstack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT, seconds="12")
    video = await wait_done(client, created.id)
    assert video.status == "completed", video.error
    first, second = video_chats(vstack)
    conf1 = first.json["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    conf2 = second.json["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert conf1["videoLength"] == 6 and "isVideoExtension" not in conf1
    assert conf2["isVideoExtension"] is True and conf2["videoLength"] == 6
    assert conf2["videoExtensionStartTime"] == 6.041667
    assert conf2["originalPostId"] == conf1["parentPostId"] == conf2["parentPostId"]
    assert conf2["extendPostId"] != conf1["parentPostId"]  # the first segment's own post
    assert second.headers["referer"].endswith("/imagine/post/" + conf1["parentPostId"])
    content = await client.videos.download_content(created.id)
    assert content.read() == generated_video(PROMPT, 12, "720p", "9:16")


async def test_image_to_video_with_input_reference(vstack):
    client = vstack.openai(KEY)
    image = generated_image("reference", "1:1", "final", 0)
    created = await client.videos.create(
        model="grok-imagine-video", prompt=PROMPT, seconds="6",
        input_reference=("ref.jpg", io.BytesIO(image), "image/jpeg"))
    video = await wait_done(client, created.id)
    assert video.status == "completed", video.error
    [upload] = vstack.sim.state.requests_to(UPLOAD_PATH)
    assert upload.json["fileMimeType"] == "image/jpeg"
    [post] = vstack.sim.state.requests_to(MEDIA_POST_PATH)
    assert post.json["mediaType"] == "MEDIA_POST_TYPE_IMAGE"
    [chat] = video_chats(vstack)
    config = chat.json["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert config["isReferenceToVideo"] is True
    assert config["imageReferences"] == [post.json["mediaUrl"]]


async def test_moderated_video_ends_failed(vstack):
    client = vstack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video",
                                         prompt=PROMPT + " [[sim moderated=1]]")
    video = await wait_done(client, created.id)
    assert video.status == "failed"
    assert video.error.code == "video_generation_failed"
    assert "moderation" in video.error.message
    assert len(video_chats(vstack)) == 1  # the prompt's fault: no other try
    with pytest.raises(openai.ConflictError) as info:
        await client.videos.download_content(created.id)
    assert info.value.code == "video_not_ready"


@pytest.mark.parametrize("fields, param", [
    ({"seconds": "7"}, "seconds"),
    ({"size": "1x1"}, "size"),
    ({"extra_body": {"resolution_name": "1080p"}}, "resolution_name"),
    ({"extra_body": {"preset": "x"}}, "preset"),
    ({"prompt": "   "}, "prompt"),
    ({"model": "grok-4.20-fast"}, "model"),
])
async def test_bad_input_is_a_400_naming_the_field(vstack, fields, param):
    client = vstack.openai(KEY)
    args = {"model": "grok-imagine-video", "prompt": PROMPT, **fields}
    with pytest.raises(openai.BadRequestError) as info:
        await client.videos.create(**args)
    assert info.value.body["param"] == param
    assert vstack.sim.state.requests_to(MEDIA_POST_PATH) == []
    assert video_chats(vstack) == []


async def test_non_image_reference_unknown_id_and_json_alias(vstack):
    client = vstack.openai(KEY)
    with pytest.raises(openai.BadRequestError) as info:
        await client.videos.create(model="grok-imagine-video", prompt=PROMPT,
                                   input_reference=("notes.txt", io.BytesIO(b"hello"),
                                                    "text/plain"))
    assert info.value.body["param"] == "input_reference"
    with pytest.raises(openai.NotFoundError):
        await client.videos.retrieve("video_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        await client.videos.download_content("video_nope")
    async with vstack.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.post("/v1/videos/generations", json={
                "model": "grok-imagine-video", "prompt": PROMPT, "seconds": 6,
                "input_reference": "data:text/plain;base64,aGVsbG8="}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["param"] == "input_reference"
        async with http.post("/v1/videos/generations", json={
                "model": "grok-imagine-video", "prompt": PROMPT, "seconds": 6}) as resp:
            assert resp.status == 200
            job = await resp.json()
            assert job["status"] == "queued" and job["object"] == "video"
    async with vstack.http() as anonymous:
        async with anonymous.get(f"/v1/videos/{job['id']}") as resp:
            assert resp.status == 401
    assert (await wait_done(client, job["id"])).status == "completed"


async def test_an_oversized_reference_is_a_400(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY, GROK_ATTACHMENTS_MAX_FILE_BYTES="1000")
    client = stack.openai(KEY)
    with pytest.raises(openai.BadRequestError) as info:
        await client.videos.create(model="grok-imagine-video", prompt=PROMPT,
                                   input_reference=("big.jpg", io.BytesIO(b"x" * 1001),
                                                    "image/jpeg"))
    assert info.value.body["param"] == "input_reference"
    assert info.value.code == "attachment_too_large"


async def test_without_an_account_that_makes_videos_the_create_is_a_429(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    stack.add_account("tok-basic", tier="basic")  # basic accounts have no video mode
    client = stack.openai(KEY)
    with pytest.raises(openai.RateLimitError):
        await client.videos.create(model="grok-imagine-video", prompt=PROMPT)
    assert stack.sim.state.requests_to(MEDIA_POST_PATH) == []


async def test_content_before_completion_is_409(vstack):
    client = vstack.openai(KEY)
    created = await client.videos.create(
        model="grok-imagine-video", prompt=PROMPT + " [[sim progress_frames=20 delay_ms=100]]")
    with pytest.raises(openai.ConflictError) as info:
        await client.videos.download_content(created.id)
    assert info.value.status_code == 409 and info.value.code == "video_not_ready"
    assert (await wait_done(client, created.id)).status == "completed"


async def test_restart_during_a_job_leaves_it_failed(vstack):
    client = vstack.openai(KEY)
    created = await client.videos.create(
        model="grok-imagine-video", prompt=PROMPT + " [[sim progress_frames=50 delay_ms=100]]")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await client.videos.retrieve(created.id)).status != "in_progress":
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await vstack.restart_gateway()
    client = vstack.openai(KEY)
    video = await client.videos.retrieve(created.id)
    assert video.status == "failed"
    assert video.error.code == "video_interrupted"
    assert "create the video again" in video.error.message


async def test_webhook_receives_the_signed_job(stack):
    got: list[tuple[bytes, dict]] = []
    calls = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.Response(status=503)  # the first delivery is refused: retried
        got.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        await stack.start_gateway(GROK_APP_API_KEY=KEY,
                                  GROK_VIDEO_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                                  GROK_VIDEO_WEBHOOK_SECRET="whsec-test",
                                  GROK_VIDEO_WEBHOOK_BACKOFF_SEC="0.05")
        stack.add_account("tok-video-1")
        client = stack.openai(KEY)
        created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not got:
            assert loop.time() < deadline, "no webhook delivery"
            await asyncio.sleep(0.05)
        body, headers = got[0]
        expected = "sha256=" + hmac.new(b"whsec-test", body, hashlib.sha256).hexdigest()
        assert headers["X-Grok2api-Signature"] == expected
        assert headers["X-Grok2api-Timestamp"].isdigit()
        job = openai.types.Video.model_validate_json(body)
        assert job.id == created.id and job.status == "completed"
        assert calls == 2
    finally:
        await runner.cleanup()


async def test_a_job_is_seen_by_another_gateway_on_the_same_database(vstack, tmp_path):
    """A second gateway (another worker) on the same data directory reads the job."""
    client = vstack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT)
    assert (await wait_done(client, created.id)).status == "completed"
    from tests.integration.conftest import Gateway
    other = await Gateway(vstack.data_dir, dict(vstack.env)).start()
    try:
        async with aiohttp.ClientSession(base_url=other.url,
                                         headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with http.get(f"/v1/videos/{created.id}") as resp:
                assert (await resp.json())["status"] == "completed"
            async with http.get(f"/v1/videos/{created.id}/content") as resp:
                assert resp.status == 200
    finally:
        await other.stop()


async def test_a_refused_media_post_fails_over_to_another_account(vstack):
    vstack.add_account("tok-video-2")
    vstack.sim.state.inject("429", path=MEDIA_POST_PATH, times=1)
    client = vstack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT)
    video = await wait_done(client, created.id)
    assert video.status == "completed", video.error
    refused, served = [p.token for p in vstack.sim.state.requests_to(MEDIA_POST_PATH)]
    assert refused != served
    assert [c.token for c in video_chats(vstack)] == [served]


async def test_an_upstream_failure_ends_the_job_failed(vstack):
    vstack.sim.state.inject("500", times=20)
    client = vstack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT)
    video = await wait_done(client, created.id)
    assert video.status == "failed"
    assert video.error.code == "video_generation_failed"
    assert video.error.message


async def test_videos_go_over_rest_when_chat_uses_the_websocket_gateway(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY, GROK_UPSTREAM_CHAT_TRANSPORT="mgw")
    stack.add_account("tok-video-1")
    client = stack.openai(KEY)
    created = await client.videos.create(model="grok-imagine-video", prompt=PROMPT,
                                         seconds="16", size="1024x1024")
    video = await wait_done(client, created.id)
    assert video.status == "completed", video.error
    assert len(video_chats(stack)) == 2
    content = await client.videos.download_content(created.id)
    assert content.read() == generated_video(PROMPT, 16, "720p", "1:1")
