"""Media posts, the image-edit and video chat streams, video upscale and share links.

The edit and video streams are the chat endpoint with `modelName` `imagine-image-edit` or
`imagine-video-gen` (chat_handler hands them here). Both payload generations are accepted:
the older one with `responseMetadata.modelConfigOverride.modelMap` (edit: `imageEditModelConfig`
with `imageReferences` and `parentPostId`; video: `videoGenModelConfig` with `parentPostId`,
and for an extension `extendPostId` / `originalPostId`), and the newer `mediaGenInput`
(`imageToImage` with uploaded `inputAssets`; `textToVideo`). Every post id, reference and asset
named must belong to the calling account, else 400, so a client that loses track of them fails.

Directives in the message (`[[sim …]]`): `moderated=0,1|all` (edit slots; for a video any value
withholds it), `progress_frames=N` (video progress frames before the final one),
`delay_ms=N` between frames, `video_kb=N` size of the MP4.
"""
from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import orjson
from aiohttp import HttpVersion11, web

from ops.simulator.common import JSON_KEY, admit, json_response, sim_state, to_response
from ops.simulator.directives import int_directive, media_directives, slot_set
from ops.simulator.errors import REPLY_TOO_MANY, ErrorReply, bad_request
from ops.simulator.media import generated_image, generated_thumbnail, generated_video
from ops.simulator.state import (
    MEDIA_POST_PATH,
    PUBLIC_VIDEOS_PREFIX,
    SHARE_LINK_PATH,
    UPSCALE_PATH,
    MediaAsset,
    SimToken,
    SimulatorState,
)

EDIT_MODEL = "imagine-image-edit"
VIDEO_MODEL = "imagine-video-gen"
MEDIA_MODELS = frozenset({EDIT_MODEL, VIDEO_MODEL})
POST_TYPES = frozenset({"MEDIA_POST_TYPE_IMAGE", "MEDIA_POST_TYPE_VIDEO"})
RESOLUTIONS = frozenset({"480p", "720p"})
_MODE_SUFFIX = re.compile(r"\s+--mode=\S+\s*$")
_CONTENT_PATH = re.compile(r"users/([^/]+)/([^/]+)/content$")
_STREAM_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _frame(response: dict[str, Any]) -> bytes:
    return orjson.dumps({"result": {"response": response}}) + b"\n"


def _dig(payload: dict[str, Any], *keys: str) -> Any:
    node: Any = payload
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _owned_post(state: SimulatorState, sim: SimToken, post_id: Any, name: str) -> ErrorReply | None:
    post = state.posts.get(post_id) if isinstance(post_id, str) else None
    if post is None or post.token != sim.token:
        return bad_request(f"Unknown {name} {post_id!r}")
    return None


def _reference_ok(state: SimulatorState, sim: SimToken, url: Any) -> bool:
    """An image reference: the content URL of this account's upload or generated file."""
    if not isinstance(url, str):
        return False
    found = _CONTENT_PATH.search(url)
    if found is None or found.group(1) != sim.user_id:
        return False
    item = state.files.get(found.group(2))
    if item is not None:
        return item.token == sim.token
    media = state.media.get(found.group(0))
    return media is not None and media.token == sim.token


async def _send(request: web.Request, frames: list[bytes], delay: float) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=_STREAM_HEADERS)
    if request.version >= HttpVersion11:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        for i, data in enumerate(frames):
            if delay and i:
                await asyncio.sleep(delay)
            await resp.write(data)
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def media_chat(request: web.Request, sim: SimToken, payload: dict[str, Any]) -> web.StreamResponse:
    """The chat endpoint for the edit and video models (auth and statsig already checked)."""
    if payload["modelName"] == EDIT_MODEL:
        return await _edit(request, sim, payload)
    return await _video(request, sim, payload)


# ---- image edit --------------------------------------------------------------------------
async def _edit(request: web.Request, sim: SimToken, payload: dict[str, Any]) -> web.StreamResponse:
    state = sim_state(request)
    message = payload.get("message")
    g4 = _dig(payload, "mediaGenInput", "imageToImage")
    ratio: str | None = None
    if isinstance(g4, dict):
        prompt = g4.get("prompt") if isinstance(g4.get("prompt"), str) else message
        assets = g4.get("inputAssets")
        if not isinstance(assets, list) or not 1 <= len(assets) <= 8:
            return to_response(bad_request("mediaGenInput.imageToImage.inputAssets must list 1-8 uploads"))
        for asset in assets:
            item = state.files.get(asset) if isinstance(asset, str) else None
            if item is None or item.token != sim.token:
                return to_response(bad_request(f"Unknown input asset {asset!r}"))
        ratio = g4.get("aspectRatio") if isinstance(g4.get("aspectRatio"), str) else None
    else:
        prompt = message
        config = _dig(payload, "responseMetadata", "modelConfigOverride", "modelMap", "imageEditModelConfig")
        if not isinstance(config, dict):
            return to_response(bad_request("imageEditModelConfig or mediaGenInput.imageToImage is required"))
        refs = config.get("imageReferences")
        if not isinstance(refs, list) or not refs:
            return to_response(bad_request("imageReferences must be a non-empty list"))
        for ref in refs:
            if not _reference_ok(state, sim, ref):
                return to_response(bad_request(f"Unknown image reference {ref!r}"))
        if "parentPostId" in config:
            err = _owned_post(state, sim, config.get("parentPostId"), "parentPostId")
            if err is not None:
                return to_response(err)
        ratio = config.get("aspectRatio") if isinstance(config.get("aspectRatio"), str) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return to_response(bad_request("message must be a non-empty string"))
    count = payload.get("imageGenerationCount")
    slots = count if isinstance(count, int) and 1 <= count <= 4 else 2
    if not state.charge_product(sim, "imageEdit"):
        return to_response(REPLY_TOO_MANY)
    marks = media_directives(prompt)
    moderated = slot_set(marks.get("moderated"), slots)
    frames: list[bytes] = []
    finals: list[tuple[int, str, MediaAsset | None]] = []
    ids = [str(uuid.uuid4()) for _ in range(slots)]
    for index, gen_id in enumerate(ids):
        part = f"users/{sim.user_id}/generated/{gen_id}-part-0/image.jpg"
        state.add_media(part, generated_image(prompt, ratio, "preview", index), "image/jpeg", sim=sim)
        frames.append(_frame({"streamingImageGenerationResponse": {
            "imageIndex": index, "progress": 50, "imageUrl": part, "moderated": False, "isFinal": False}}))
    for index, gen_id in enumerate(ids):
        path = f"users/{sim.user_id}/generated/{gen_id}/image.jpg"
        final: dict[str, Any] = {"imageIndex": index, "progress": 100, "imageUrl": path}
        if index in moderated:
            finals.append((index, path, None))
            final.update(moderated=True, isFinal=True)
        else:
            item = state.add_media(path, generated_image(prompt, ratio, "final", index), "image/jpeg",
                                   sim=sim, prompt=prompt, index=index, aspect_ratio=ratio)
            finals.append((index, path, item))
            final.update(assetId=item.asset_id, moderated=False, isFinal=True)
        frames.append(_frame({"streamingImageGenerationResponse": final}))
    # generatedImageUrls lists moderated slots' URLs too: a client must not take them from here
    frames.append(_frame({"modelResponse": {
        "responseId": str(uuid.uuid4()), "message": "",
        "generatedImageUrls": [path for _, path, _ in finals],
        "fileAttachments": [item.asset_id for _, _, item in finals if item is not None]}}))
    frames.append(_frame({"token": "", "isSoftStop": True}))
    return await _send(request, frames, int_directive(marks, "delay_ms", 0) / 1000)


# ---- video -------------------------------------------------------------------------------
def _video_request(state: SimulatorState, sim: SimToken, payload: dict[str, Any]
                   ) -> tuple[dict[str, Any], None] | tuple[None, ErrorReply]:
    """(prompt, seconds, resolution, ratio, parent post) of a video payload, or the 400."""
    message = payload.get("message")
    g4 = _dig(payload, "mediaGenInput", "textToVideo")
    if isinstance(g4, dict):
        if payload.get("kind") != "CONVERSATION_KIND_IMAGINE":
            return None, bad_request("kind must be CONVERSATION_KIND_IMAGINE with mediaGenInput")
        prompt, length = g4.get("prompt"), g4.get("duration")
        spec: dict[str, Any] = {"ratio": g4.get("aspectRatio"), "resolution": g4.get("resolutionName") or "720p",
                                "parent": None, "start": 0.0}
        if not isinstance(length, int) or not 1 <= length <= 15:
            return None, bad_request("mediaGenInput.textToVideo.duration must be 1-15")
    else:
        config = _dig(payload, "responseMetadata", "modelConfigOverride", "modelMap", "videoGenModelConfig")
        if not isinstance(config, dict):
            return None, bad_request("videoGenModelConfig or mediaGenInput.textToVideo is required")
        for key in ("parentPostId", "extendPostId", "originalPostId"):
            if key in config or key == "parentPostId":
                err = _owned_post(state, sim, config.get(key), key)
                if err is not None:
                    return None, err
        prompt = config.get("originalPrompt") or (_MODE_SUFFIX.sub("", message) if isinstance(message, str) else None)
        length = config.get("videoLength")
        if not isinstance(length, int) or length not in (6, 10):
            return None, bad_request("videoLength must be 6 or 10")
        start = config.get("videoExtensionStartTime") if config.get("isVideoExtension") else 0.0
        if not isinstance(start, (int, float)) or start < 0:
            return None, bad_request("videoExtensionStartTime must be a non-negative number")
        refs = config.get("imageReferences") or []
        for ref in refs if isinstance(refs, list) else [None]:
            if not _reference_ok(state, sim, ref):
                return None, bad_request(f"Unknown image reference {ref!r}")
        spec = {"ratio": config.get("aspectRatio"), "resolution": config.get("resolutionName") or "720p",
                "parent": config.get("parentPostId"), "start": float(start)}
    if not isinstance(prompt, str) or not prompt.strip():
        return None, bad_request("message must be a non-empty string")
    if spec["resolution"] not in RESOLUTIONS:
        return None, bad_request(f"Unknown resolutionName {spec['resolution']!r}")
    # an extension returns the stitched video: everything so far plus this segment
    spec.update(prompt=prompt, seconds=round(spec["start"]) + length)
    return spec, None


async def _video(request: web.Request, sim: SimToken, payload: dict[str, Any]) -> web.StreamResponse:
    state = sim_state(request)
    spec, err = _video_request(state, sim, payload)
    if err is not None or spec is None:
        return to_response(err or bad_request("invalid video request"))
    if not state.charge_product(sim, "video720p" if spec["resolution"] == "720p" else "video"):
        return to_response(REPLY_TOO_MANY)
    prompt = spec["prompt"]
    marks = media_directives(payload.get("message") or prompt)
    steps = max(1, int_directive(marks, "progress_frames", 4))
    video_id = str(uuid.uuid4())
    post = state.add_post(sim, "MEDIA_POST_TYPE_VIDEO", prompt, None)
    post.video_id = video_id
    head = {"videoId": video_id, "videoPostId": post.post_id}
    frames = [orjson.dumps({"result": {"conversation": {"conversationId": str(uuid.uuid4())}}}) + b"\n"]
    for i in range(steps):
        progress = 1 + (98 * i) // steps
        extra = {"resolutionName": spec["resolution"]} if i == 0 else {}
        frames.append(_frame({"streamingVideoGenerationResponse": {**head, "progress": progress, **extra}}))
    if marks.get("moderated"):
        frames.append(_frame({"streamingVideoGenerationResponse": {**head, "progress": 100, "moderated": True}}))
        frames.append(_frame({"token": "I could not generate that video", "isSoftStop": True}))
    else:
        base = f"users/{sim.user_id}/generated/{video_id}"
        data = generated_video(prompt, spec["seconds"], spec["resolution"], spec["ratio"],
                               size=int_directive(marks, "video_kb", 64) * 1024)
        item = state.add_media(f"{base}/generated_video.mp4", data, "video/mp4", sim=sim, asset_id=video_id,
                               prompt=prompt, seconds=spec["seconds"], resolution=spec["resolution"],
                               aspect_ratio=spec["ratio"], video_id=video_id)
        state.add_media(f"{base}/preview_image.jpg", generated_thumbnail(prompt, spec["ratio"]),
                        "image/jpeg", sim=sim)
        state.videos[video_id] = item
        frames.append(_frame({"streamingVideoGenerationResponse": {
            **head, "progress": 100, "assetId": item.asset_id, "videoUrl": item.path,
            "thumbnailImageUrl": f"{base}/preview_image.jpg", "resolutionName": spec["resolution"],
            "moderated": False}}))
        frames.append(_frame({"modelResponse": {"fileAttachments": [item.path]}}))
        frames.append(_frame({"token": "I generated a video", "isSoftStop": True}))
    return await _send(request, frames, int_directive(marks, "delay_ms", 0) / 1000)


# ---- posts, upscale, share links ---------------------------------------------------------
async def media_post_handler(request: web.Request) -> web.StreamResponse:
    sim, refused = await admit(request, MEDIA_POST_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    payload = request[JSON_KEY]
    if not isinstance(payload, dict) or payload.get("mediaType") not in POST_TYPES:
        return to_response(bad_request(f"mediaType must be one of {sorted(POST_TYPES)}"))
    prompt, url = payload.get("prompt"), payload.get("mediaUrl")
    if prompt is not None and not isinstance(prompt, str) or url is not None and not isinstance(url, str):
        return to_response(bad_request("prompt and mediaUrl must be strings"))
    if not prompt and not url:
        return to_response(bad_request("a media post needs a prompt or a mediaUrl"))
    state = sim_state(request)
    if url and not _reference_ok(state, sim, url):
        return to_response(bad_request(f"Unknown mediaUrl {url!r}"))
    post = state.add_post(sim, payload["mediaType"], prompt, url)
    body: dict[str, Any] = {"id": post.post_id, "mediaType": post.media_type}
    if prompt:
        body.update(originalPrompt=prompt, prompt=prompt)
    if url:
        body["mediaUrl"] = url
    return json_response({"post": body})


def _owned_video(state: SimulatorState, sim: SimToken, video_id: Any) -> MediaAsset | None:
    item = state.videos.get(video_id) if isinstance(video_id, str) else None
    return item if item is not None and item.token == sim.token else None


async def upscale_handler(request: web.Request) -> web.StreamResponse:
    """`{"videoId"}` → `{"hdMediaUrl"}`: a 720p rendering of this account's video."""
    sim, refused = await admit(request, UPSCALE_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    state = sim_state(request)
    payload = request[JSON_KEY]
    item = _owned_video(state, sim, payload.get("videoId") if isinstance(payload, dict) else None)
    if item is None:
        return to_response(bad_request("Unknown videoId"))
    meta = item.meta
    path = item.path.replace("generated_video.mp4", "generated_video_hd.mp4")
    state.add_media(path, generated_video(meta["prompt"], meta["seconds"], "720p", meta["aspect_ratio"],
                                          size=len(item.data)), "video/mp4", sim=sim, **meta)
    return json_response({"hdMediaUrl": f"{request.scheme}://{request.host}/{path}"})


async def share_link_handler(request: web.Request) -> web.StreamResponse:
    """`{"postId": <videoId>, …}` → `{"shareLink"}`: the video, now public without cookies."""
    sim, refused = await admit(request, SHARE_LINK_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    state = sim_state(request)
    payload = request[JSON_KEY]
    video_id = payload.get("postId") if isinstance(payload, dict) else None
    item = _owned_video(state, sim, video_id)
    if item is None:
        return to_response(bad_request("Unknown postId"))
    path = f"{PUBLIC_VIDEOS_PREFIX}{video_id}.mp4"
    state.add_media(path, item.data, "video/mp4", sim=None, public=True, **item.meta)
    return json_response({"shareLink": f"{request.scheme}://{request.host}/{path}?cache=1"})


def add_media_routes(app: web.Application) -> None:
    app.router.add_post(MEDIA_POST_PATH, media_post_handler)
    app.router.add_post(UPSCALE_PATH, upscale_handler)
    app.router.add_post(SHARE_LINK_PATH, share_link_handler)
