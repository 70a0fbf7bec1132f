"""The per-account preparation of a video: its reference images and its parent media post.

`request` resolves the reference images once (data URIs decoded, URLs fetched through the
SSRF-guarded client, the `[attachments]` size limits applied, only images accepted): a
problem there is the client's, a 400 before any account is leased. `attempt` then, on the
account the try leased, uploads each reference and posts it (`MEDIA_POST_TYPE_IMAGE`, the
first post being the parent), or, for a text-to-video, posts the prompt
(`MEDIA_POST_TYPE_VIDEO`), and hands the parent post id and the references' content URLs to
the request builder (`attempt.parent_post_id`, `attempt.media_refs`). Uploads and posts
belong to one account, so another account (a failover) makes its own; a retry on the same
account reuses them.

A failed upload or post is a failure of that try, classified like a failed video call (the
retry addon decides); grok.com refusing the file itself (`UploadRejected`) is the client's
mistake: a 400, no account penalised.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from addons.errors import validation
from addons.flow import Flow
from addons.services.fetch import (
    Media, MediaError, is_data_uri, shown_url, limits_from, resolve,
)
from addons.upstream.base import TransportError
from addons.upstream.classify import UpstreamHTTPError, call_failure
from addons.upstream.config import UpstreamConfig
from addons.upstream.ratelimits import ShortCallTransport
from addons.upstream.upload import UploadRejected, Uploader, upload_file
from addons.upstream.video_posts import POST_IMAGE, POST_VIDEO, content_url, create_media_post

NAME = "video_posts"
#: grok.com takes at most this many reference images for one video
MAX_REFERENCES = 7


@dataclass(slots=True)
class _Prepared:
    parent_post_id: str
    refs: list[str]


@dataclass(slots=True)
class _State:
    files: list[Media]
    prepared: dict[str, _Prepared] = field(default_factory=dict)  # account token → posts


def reference_param(flow: Flow) -> str:
    """The request field the references came from, for a 400."""
    return "input_reference" if flow.dialect == "openai.videos" else "messages"


class VideoPosts:
    def __init__(self, settings: Any, transport: ShortCallTransport | None = None) -> None:
        self.settings = settings
        #: the shared REST transport, bound by the services on start
        self.transport = transport
        self.uploader: Uploader = upload_file

    def bind(self, transport: ShortCallTransport) -> None:
        self.transport = transport

    # ---- request: resolve the references once ---------------------------------------
    async def request(self, flow: Flow) -> None:
        if flow.request is None or flow.request.kind != "video":
            return
        refs = flow.request.references[:MAX_REFERENCES]
        limits = limits_from(self.settings)
        param = reference_param(flow)
        files: list[Media] = []
        for i, ref in enumerate(refs):
            where = "data URI" if is_data_uri(ref.url) else shown_url(ref.url)
            try:
                media = await resolve(ref.url, limits)
            except MediaError as exc:
                raise validation(f"reference image {i + 1} ({where}): {exc}", param,
                                 code="invalid_image") from None
            if not media.mime.startswith("image/"):
                raise validation(f"reference image {i + 1} ({where}) is {media.mime}, not an "
                                 "image", param, code="invalid_image")
            files.append(Media(media.data, media.mime, ref.name or media.name))
        flow.metadata[NAME] = _State(files)

    # ---- attempt: uploads and posts on the leased account ----------------------------
    async def attempt(self, flow: Flow) -> None:
        state: _State | None = flow.metadata.get(NAME)
        if state is None or flow.lease is None or flow.attempt.failure is not None:
            return
        token = flow.lease.token
        prepared = state.prepared.get(token)
        if prepared is None:
            try:
                prepared = await self._prepare(flow, state.files, token)
            except UploadRejected as exc:
                raise validation(f"grok.com refused a reference image: {exc}",
                                 reference_param(flow), code="attachment_rejected") from None
            except (UpstreamHTTPError, TransportError) as exc:  # a timeout is one too
                flow.attempt.failure = call_failure(exc, "video preparation")
                return
            state.prepared[token] = prepared
        flow.attempt.parent_post_id = prepared.parent_post_id
        flow.attempt.media_refs = list(prepared.refs)

    async def _prepare(self, flow: Flow, files: list[Media], token: str) -> _Prepared:
        if self.transport is None:
            raise TransportError("video posts: no upstream transport bound")
        cfg = UpstreamConfig.from_settings(self.settings)
        fresh = flow.statsig_renewed
        if not files:
            post = await create_media_post(self.transport, cfg, token, POST_VIDEO,
                                           prompt=flow.request.prompt, fresh_statsig=fresh)
            return _Prepared(post, [])
        uploads = await asyncio.gather(*(
            self.uploader(self.transport, cfg, token, f.name, f.mime, f.data) for f in files))
        refs = [content_url(cfg, u) for u in uploads]
        posts = [await create_media_post(self.transport, cfg, token, POST_IMAGE, media_url=url,
                                         fresh_statsig=fresh) for url in refs]
        return _Prepared(posts[0], refs)
