"""Media posts, the image-edit and video chat streams (both payload generations), upscale
and share links."""
from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from ops.simulator.media import generated_image, generated_video, jpeg_dimensions
from tests.ops.simhelpers import CHAT, UPLOAD, auth_headers, post_json

POST = "/rest/media/post/create"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def _upload(session, sim, token="tok") -> dict[str, Any]:
    payload = {"fileName": "a.png", "fileMimeType": "image/png", "content": base64.b64encode(PNG).decode()}
    status, body, _ = await post_json(session, sim.url + UPLOAD, payload, auth_headers(token))
    assert status == 200
    return body


async def _post(session, sim, token="tok", **body) -> tuple[int, Any]:
    status, data, _ = await post_json(session, sim.url + POST, body, auth_headers(token))
    return status, data


async def _stream(session, sim, payload, token="tok") -> tuple[int, list[dict[str, Any]], Any]:
    async with session.post(sim.url + CHAT, json=payload, headers=auth_headers(token)) as r:
        raw = await r.read()
    if r.status != 200:
        return r.status, [], orjson.loads(raw)
    return r.status, [orjson.loads(line) for line in raw.split(b"\n") if line], None


def _responses(frames):
    return [f["result"]["response"] for f in frames if "response" in f.get("result", {})]


def _edit_g2(prompt, ref, parent, count=2):
    return {"temporary": True, "modelName": "imagine-image-edit", "message": prompt,
            "enableImageGeneration": True, "enableImageStreaming": True, "imageGenerationCount": count,
            "responseMetadata": {"modelConfigOverride": {"modelMap": {
                "imageEditModel": "imagine",
                "imageEditModelConfig": {"imageReferences": [ref], "parentPostId": parent}}}}}


def _video_g2(prompt, parent, length=6, **extra):
    config = {"parentPostId": parent, "aspectRatio": "16:9", "videoLength": length,
              "resolutionName": "720p", **extra}
    return {"temporary": True, "modelName": "imagine-video-gen", "message": f"{prompt} --mode=custom",
            "enableSideBySide": True,
            "responseMetadata": {"experiments": [], "modelConfigOverride": {"modelMap": {"videoGenModelConfig": config}}}}


async def test_media_post_validates_and_answers_an_id(sim, session):
    status, body = await _post(session, sim, mediaType="MEDIA_POST_TYPE_VIDEO", prompt="a neon street")
    assert status == 200 and body["post"]["id"] and body["post"]["prompt"] == "a neon street"
    up = await _upload(session, sim)
    url = f"https://assets.grok.com/{up['fileUri']}"
    status, body = await _post(session, sim, mediaType="MEDIA_POST_TYPE_IMAGE", mediaUrl=url)
    assert status == 200 and body["post"]["mediaUrl"] == url and "prompt" not in body["post"]
    sim.state.add_token("other", "super")
    status, _ = await _post(session, sim, "other", mediaType="MEDIA_POST_TYPE_IMAGE", mediaUrl=url)
    assert status == 400  # another account's upload
    status, _ = await _post(session, sim, mediaType="MEDIA_POST_TYPE_GIF", prompt="x")
    assert status == 400
    status, _ = await _post(session, sim, mediaType="MEDIA_POST_TYPE_IMAGE")
    assert status == 400


async def test_edit_stream_old_shape_with_a_moderated_slot(sim, session):
    up = await _upload(session, sim)
    ref = f"https://assets.grok.com/{up['fileUri']}"
    _, post = await _post(session, sim, mediaType="MEDIA_POST_TYPE_IMAGE", prompt="make the sky purple")
    prompt = "make the sky purple [[sim moderated=1]]"
    status, frames, _ = await _stream(session, sim, _edit_g2(prompt, ref, post["post"]["id"]))
    assert status == 200
    chunks = [r["streamingImageGenerationResponse"] for r in _responses(frames)
              if "streamingImageGenerationResponse" in r]
    previews = [c for c in chunks if c["progress"] < 100]
    finals = {c["imageIndex"]: c for c in chunks if c["progress"] == 100}
    assert len(previews) == 2 and all("-part-0/" in c["imageUrl"] for c in previews)
    assert finals[0]["moderated"] is False and "-part-" not in finals[0]["imageUrl"]
    assert finals[1]["moderated"] is True and "assetId" not in finals[1]
    model = next(r["modelResponse"] for r in _responses(frames) if "modelResponse" in r)
    assert finals[1]["imageUrl"] in model["generatedImageUrls"]  # the trap: listed although withheld
    assert model["fileAttachments"] == [finals[0]["assetId"]]
    uid = sim.state.tokens["tok"].user_id
    for url in (finals[0]["imageUrl"], f"users/{uid}/{finals[0]['assetId']}/content"):
        async with session.get(f"{sim.url}/{url}", headers=auth_headers("tok")) as r:
            assert r.status == 200
            assert await r.read() == generated_image(prompt, None, "final", 0)
    async with session.get(f"{sim.url}/{finals[1]['imageUrl']}", headers=auth_headers("tok")) as r:
        assert r.status == 404
    assert sim.state.tokens["tok"].quotas["imageEdit"].remaining == 49


async def test_edit_stream_new_shape_and_bad_references(sim, session):
    up = await _upload(session, sim)
    payload = {"modelName": "imagine-image-edit", "message": "a hat", "enableImageStreaming": True,
               "mediaGenInput": {"imageToImage": {"prompt": "a hat", "inputAssets": [up["fileMetadataId"]],
                                                  "aspectRatio": "16:9"}}}
    status, frames, _ = await _stream(session, sim, {**payload, "imageGenerationCount": 1})
    assert status == 200
    final = next(r["streamingImageGenerationResponse"] for r in _responses(frames)
                 if r.get("streamingImageGenerationResponse", {}).get("progress") == 100)
    async with session.get(f"{sim.url}/{final['imageUrl']}", headers=auth_headers("tok")) as r:
        assert jpeg_dimensions(await r.read()) == (1280, 720)

    bad = {**payload, "mediaGenInput": {"imageToImage": {"prompt": "a hat", "inputAssets": ["nope"]}}}
    status, _, body = await _stream(session, sim, bad)
    assert status == 400 and "nope" in body["error"]["message"]
    status, _, body = await _stream(session, sim, _edit_g2("x", "https://assets.grok.com/users/u/f/content", "p"))
    assert status == 400


async def test_video_old_shape_progress_extension_and_download(sim, session):
    _, post = await _post(session, sim, mediaType="MEDIA_POST_TYPE_VIDEO", prompt="a neon street")
    parent = post["post"]["id"]
    status, frames, _ = await _stream(session, sim, _video_g2("a neon street [[sim progress_frames=5]]", parent, 10))
    assert status == 200
    video = [r["streamingVideoGenerationResponse"] for r in _responses(frames)
             if "streamingVideoGenerationResponse" in r]
    progress = [v["progress"] for v in video]
    assert len(video) == 6 and progress == sorted(progress) and progress[-1] == 100
    final = video[-1]
    assert final["moderated"] is False and final["videoUrl"].endswith("/generated_video.mp4")
    assert final["thumbnailImageUrl"].endswith("/preview_image.jpg")
    async with session.get(f"{sim.url}/{final['videoUrl']}", headers=auth_headers("tok")) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
        first = await r.read()
    assert first == generated_video("a neon street [[sim progress_frames=5]]", 10, "720p", "16:9")

    # an extension names the previous segment's post and returns the stitched 16 s video
    ext = _video_g2("a neon street", parent, 6, isVideoExtension=True, videoExtensionStartTime=10.041667,
                    extendPostId=final["videoPostId"], stitchWithExtendPostId=True,
                    originalPrompt="a neon street", originalPostId=parent)
    status, frames, _ = await _stream(session, sim, ext)
    final2 = [r["streamingVideoGenerationResponse"] for r in _responses(frames)
              if "streamingVideoGenerationResponse" in r][-1]
    assert status == 200 and sim.state.videos[final2["videoId"]].meta["seconds"] == 16

    status, _, body = await _stream(session, sim, {**ext, "responseMetadata": {"modelConfigOverride": {"modelMap": {
        "videoGenModelConfig": {**ext["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"],
                                "extendPostId": "unknown"}}}}})
    assert status == 400 and "extendPostId" in body["error"]["message"]
    status, _, _ = await _stream(session, sim, _video_g2("x", "no-such-post"))
    assert status == 400


async def test_video_new_shape_moderated_and_quota(sim, session):
    payload = {"modelName": "imagine-video-gen", "message": "a cat --mode=custom", "kind": "CONVERSATION_KIND_IMAGINE",
               "mediaGenInput": {"textToVideo": {"prompt": "a cat", "aspectRatio": "1:1", "duration": 6,
                                                 "resolutionName": "480p"}}}
    status, frames, _ = await _stream(session, sim, payload)
    assert status == 200
    assert any("videoUrl" in r.get("streamingVideoGenerationResponse", {}) for r in _responses(frames))

    payload_mod = {**payload, "message": "a cat [[sim moderated=1]]"}
    status, frames, _ = await _stream(session, sim, payload_mod)
    last = [r["streamingVideoGenerationResponse"] for r in _responses(frames)
            if "streamingVideoGenerationResponse" in r][-1]
    assert last["moderated"] is True and "videoUrl" not in last

    sim.state.set_quota("tok", "video", 0)
    status, _, _ = await _stream(session, sim, payload)
    assert status == 429
    status, _, _ = await _stream(session, sim, {**payload, "kind": None})
    assert status == 400


async def test_upscale_and_share_link(sim, session):
    _, post = await _post(session, sim, mediaType="MEDIA_POST_TYPE_VIDEO", prompt="waves")
    status, frames, _ = await _stream(session, sim, _video_g2("waves", post["post"]["id"], resolutionName="480p"))
    final = [r["streamingVideoGenerationResponse"] for r in _responses(frames)
             if "streamingVideoGenerationResponse" in r][-1]
    video_id = final["videoId"]
    status, body, _ = await post_json(session, sim.url + "/rest/media/video/upscale", {"videoId": video_id},
                                      auth_headers("tok"))
    assert status == 200
    async with session.get(body["hdMediaUrl"], headers=auth_headers("tok")) as r:
        assert r.status == 200 and await r.read() == generated_video("waves", 6, "720p", "16:9")
    async with session.get(body["hdMediaUrl"]) as r:
        assert r.status == 403

    status, body, _ = await post_json(session, sim.url + "/rest/media/post/create-link",
                                      {"postId": video_id, "source": "post-page", "platform": "web"},
                                      auth_headers("tok"))
    assert status == 200 and ".mp4" in body["shareLink"]
    async with session.get(body["shareLink"]) as r:  # public: no cookie
        assert r.status == 200 and await r.read() == generated_video("waves", 6, "480p", "16:9")

    sim.state.add_token("other", "super")
    for path, key in (("/rest/media/video/upscale", "videoId"), ("/rest/media/post/create-link", "postId")):
        status, _, _ = await post_json(session, sim.url + path, {key: video_id}, auth_headers("other"))
        assert status == 400
