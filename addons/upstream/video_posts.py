"""`POST /rest/media/post/create`: the media post a video hangs from (docs/upstream.md,
"Media posts").

A text-to-video's parent is a `MEDIA_POST_TYPE_VIDEO` post with the prompt; an
image-to-video posts each uploaded reference as `MEDIA_POST_TYPE_IMAGE` (its content URL)
and the first one is the parent. A post belongs to the account that made it.
"""
from __future__ import annotations

from typing import Any

from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.media_frames import absolute
from addons.upstream.ratelimits import ShortCallTransport, json_body, raise_for_status
from addons.upstream.upload import UploadedFile
from addons.upstream.wire import UpstreamRequest

MEDIA_POST_PATH = "/rest/media/post/create"
POST_VIDEO = "MEDIA_POST_TYPE_VIDEO"
POST_IMAGE = "MEDIA_POST_TYPE_IMAGE"
IMAGINE_REFERER = "https://grok.com/imagine"
POST_TIMEOUT = 30.0


def content_url(cfg: UpstreamConfig, uploaded: UploadedFile) -> str:
    """The URL grok.com knows an uploaded file by: its `fileUri` on the assets host."""
    if uploaded.file_uri:
        return absolute(uploaded.file_uri, cfg.assets_url)
    raise UpstreamHTTPError(502, "upload answer without fileUri: no content URL to reference")


async def create_media_post(transport: ShortCallTransport, cfg: UpstreamConfig, token: str,
                            media_type: str, *, prompt: str = "", media_url: str = "",
                            fresh_statsig: bool = False) -> str:
    """The new post's id. Raises UpstreamHTTPError (a non-2xx answer, or none without
    `post.id`) and TransportError."""
    body: dict[str, Any] = {"mediaType": media_type}
    if media_url:
        body["mediaUrl"] = media_url
    if prompt:
        body["prompt"] = prompt
    headers = build_headers(cfg, token, origin=cfg.origin, referer=IMAGINE_REFERER,
                            fresh_statsig=fresh_statsig)
    request = UpstreamRequest("POST", cfg.base_url + MEDIA_POST_PATH, headers, body)
    status, _, raw = await transport.request(request, POST_TIMEOUT)
    raise_for_status(status, raw)
    post = json_body(status, raw).get("post")
    post_id = post.get("id") if isinstance(post, dict) else None
    if not isinstance(post_id, str) or not post_id:
        raise UpstreamHTTPError(502, "media post answer without post.id")
    return post_id
