"""grok.com's image edit: the per-account preparation (uploads, the media post) and the chat
payload of both generations (docs/upstream.md, "Image edit").

- `model_config` (the older one): each image is uploaded (`/rest/app-chat/upload-file`), a
  media post `MEDIA_POST_TYPE_IMAGE` is made with the prompt (its id becomes `parentPostId`,
  a prompt it returns replaces ours), and the chat payload names the images' content URLs in
  `responseMetadata.modelConfigOverride.modelMap.imageEditModelConfig.imageReferences`, with
  Referer `/imagine/post/<post id>`.
- `media_gen_input` (the newer one): each image is uploaded through `upload-file-v2` with
  `file_source=IMAGINE_SELF_UPLOAD_FILE_SOURCE`, there is no media post, and the payload puts
  the uploads' `fileMetadataId`s in `mediaGenInput.imageToImage.inputAssets`, Referer
  `/imagine`.

In both, `@IMAGE<n>` in the prompt (the n-th image, from 1) becomes `@<fileMetadataId>`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.media_frames import absolute
from addons.upstream.ratelimits import ShortCallTransport, json_body, raise_for_status
from addons.upstream.upload import UploadedFile, upload_file, upload_file_v2
from addons.upstream.wire import UpstreamRequest

EDIT_MODEL = "imagine-image-edit"
PAYLOADS = ("model_config", "media_gen_input")
IMAGINE_SOURCE = "IMAGINE_SELF_UPLOAD_FILE_SOURCE"
MEDIA_POST_PATH = "/rest/media/post/create"
IMAGINE_REFERER = "https://grok.com/imagine"
#: slots grok.com draws per edit call (the web app's own count)
SLOTS_PER_CALL = 2
_PLACEHOLDER = re.compile(r"@IMAGE(\d+)\b", re.IGNORECASE)


@dataclass(slots=True)
class EditInputs:
    """What one account holds for an edit: its uploads, in the client's order, and (older
    generation) the media post. Made per account by the image-edit addon."""

    payload: str  # model_config | media_gen_input
    prompt: str  # placeholders rewritten; the media post's prompt when it returned one
    file_ids: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # content URLs of the uploads
    post_id: str | None = None


@dataclass(slots=True)
class EditCall(UpstreamRequest):
    """The edit's chat call; `wanted` is how many distinct images the client asked for (the
    transport repeats the call once when fewer arrive)."""

    wanted: int = 1


def replace_placeholders(prompt: str, file_ids: list[str]) -> str:
    """`@IMAGE<n>` (1-based, any case) → `@<id of the n-th upload>`; a number with no image
    is left as written."""
    def swap(found: re.Match[str]) -> str:
        n = int(found.group(1))
        return f"@{file_ids[n - 1]}" if 1 <= n <= len(file_ids) else found.group(0)
    return _PLACEHOLDER.sub(swap, prompt)


def content_url(cfg: UpstreamConfig, uploaded: UploadedFile) -> str:
    """The URL an edit references an upload by: its `fileUri` on the assets host (every
    upload answer the gateway reads carries it), else the upload id's content path."""
    return absolute(uploaded.file_uri or f"{uploaded.file_id}/content", cfg.assets_url)


async def upload_image(transport: ShortCallTransport, cfg: UpstreamConfig, token: str,
                       payload: str, name: str, mime: str, data: bytes) -> UploadedFile:
    """One input image to the account, the way the chosen generation uploads it."""
    if payload == "media_gen_input":
        return await upload_file_v2(transport, cfg, token, name, mime, data,
                                    file_source=IMAGINE_SOURCE, referer=IMAGINE_REFERER)
    return await upload_file(transport, cfg, token, name, mime, data)


async def create_media_post(transport: ShortCallTransport, cfg: UpstreamConfig, token: str,
                            prompt: str) -> tuple[str, str]:
    """`MEDIA_POST_TYPE_IMAGE` with the prompt → (post id, the prompt grok.com kept)."""
    headers = build_headers(cfg, token, origin=cfg.origin, referer=IMAGINE_REFERER)
    body = {"mediaType": "MEDIA_POST_TYPE_IMAGE", "prompt": prompt}
    req = UpstreamRequest("POST", cfg.base_url + MEDIA_POST_PATH, headers, body)
    status, _, raw = await transport.request(req, cfg.upload_timeout)
    raise_for_status(status, raw)
    post = json_body(status, raw).get("post")
    post_id = post.get("id") if isinstance(post, dict) else None
    if not isinstance(post_id, str) or not post_id:
        raise UpstreamHTTPError(502, "media post answer without post.id")
    kept = next((v for v in (post.get("originalPrompt"), post.get("prompt"))
                 if isinstance(v, str) and v.strip()), prompt)
    return post_id, kept


def edit_payload(inputs: EditInputs) -> dict[str, Any]:
    """The chat payload of the edit, in the generation the inputs were prepared for."""
    if inputs.payload == "media_gen_input":
        return {
            "modelName": EDIT_MODEL, "message": inputs.prompt,
            "enableImageStreaming": True, "enableSideBySide": True, "sendFinalMetadata": True,
            "mediaGenInput": {"imageToImage": {"prompt": inputs.prompt,
                                               "inputAssets": list(inputs.file_ids)}},
        }
    config: dict[str, Any] = {"imageReferences": list(inputs.references)}
    if inputs.post_id:
        config["parentPostId"] = inputs.post_id
    return {
        "temporary": True, "modelName": EDIT_MODEL, "message": inputs.prompt,
        "enableImageGeneration": True, "returnImageBytes": False,
        "returnRawGrokInXaiRequest": False, "enableImageStreaming": True,
        "imageGenerationCount": SLOTS_PER_CALL, "forceConcise": False,
        "enableSideBySide": True, "sendFinalMetadata": True, "isReasoning": False,
        "disableTextFollowUps": True,
        "responseMetadata": {"modelConfigOverride": {"modelMap": {
            "imageEditModel": "imagine", "imageEditModelConfig": config}}},
        "disableMemory": True, "forceSideBySide": False,
    }


def edit_referer(inputs: EditInputs) -> str:
    if inputs.payload == "model_config" and inputs.post_id:
        return f"{IMAGINE_REFERER}/post/{inputs.post_id}"
    return IMAGINE_REFERER


def build_edit_call(cfg: UpstreamConfig, token: str, inputs: EditInputs, wanted: int, *,
                    fresh_statsig: bool = False) -> EditCall:
    headers = build_headers(cfg, token, origin=cfg.origin, referer=edit_referer(inputs),
                            fresh_statsig=fresh_statsig)
    return EditCall("POST", cfg.chat_url, headers, edit_payload(inputs), kind="image_edit",
                    wanted=wanted)
