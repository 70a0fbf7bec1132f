"""An image edit's inputs on the leased account: the client's images uploaded there and, in
the older payload generation, the media post the edit hangs under (docs/upstream.md, "Image
edit").

`request` resolves the images once: data URIs decoded (what `/v1/images/edits` makes of its
files, already checked there), URLs (an `image_url` part of a chat request) fetched by the
SSRF-guarded client under the `[attachments]` limits; each must be a PNG, JPEG or WebP image
by its bytes, else a 400 naming it. `attempt` prepares them on the account the try leased,
keeps what it made per account for a later try on the same account, and hands it to the
request builder in `flow.attempt.edit`. A failed upload or media post is that account's failure, like a failed
chat: it becomes `flow.attempt.failure`, nothing more is sent on that try, and the retry
addon classifies it (failover to another account, which prepares again). An image grok.com
refuses (`terminalError`) is the client's: a 400 naming it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from addons.errors import ApiError, validation
from addons.flow import Flow
from addons.services.fetch import (
    Media, MediaError, is_data_uri, shown_url, limits_from, resolve,
)
from addons.upstream.base import TransportError
from addons.upstream.classify import UpstreamHTTPError, call_failure
from addons.upstream.config import UpstreamConfig
from addons.upstream.image_edit import (
    PAYLOADS, EditInputs, content_url, create_media_post, replace_placeholders, upload_image,
)
from addons.upstream.ratelimits import ShortCallTransport
from addons.upstream.upload import UploadRejected
from state.options import Loader

NAME = "image_edit"
#: grok.com refuses larger uploads
MAX_IMAGE_BYTES = 32 << 20


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes are (PNG, JPEG, WebP), whatever the client declared."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(slots=True)
class _State:
    files: list[Media]
    prepared: dict[str, EditInputs] = field(default_factory=dict)  # account token → inputs


class ImageEditInputs:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("upstream.image_edit_payload", str, "model_config",
                          "How an image edit is sent to grok.com: `model_config` (uploads, a "
                          "media post, the images' URLs in the chat's model config; up to two "
                          "images per call) or `media_gen_input` (Imagine uploads referenced "
                          "by id in `mediaGenInput.imageToImage`, the newer web app's form).",
                          choices=PAYLOADS)

    def __init__(self, settings: Any, transport: ShortCallTransport | None = None) -> None:
        self.settings = settings
        #: the shared grok.com transport, bound by the services on start
        self.transport = transport
        self._slots: asyncio.Semaphore | None = None

    def bind(self, transport: ShortCallTransport) -> None:
        self.transport = transport

    async def request(self, flow: Flow) -> None:
        if flow.request.kind != "image_edit":
            return
        # the images endpoint names its files; a chat request carries them in its messages
        param = "image" if flow.dialect == "openai.images" else "messages"
        limits = limits_from(self.settings, MAX_IMAGE_BYTES)
        images = flow.request.images
        results = await asyncio.gather(*(resolve(a.url, limits) for a in images),
                                       return_exceptions=True)
        files: list[Media] = []
        for i, (image, result) in enumerate(zip(images, results)):
            where = "data URI" if is_data_uri(image.url) else shown_url(image.url)
            if isinstance(result, MediaError):
                code = "invalid_data_uri" if is_data_uri(image.url) else "invalid_image_url"
                raise validation(f"image {i + 1} ({where}): {result}", param, code=code)
            if isinstance(result, BaseException):
                raise result
            mime = sniff_image(result.data)
            if mime is None:
                raise validation(f"image {i + 1} ({where}) is not a PNG, JPEG or WebP image",
                                 param, code="invalid_image")
            files.append(Media(result.data, mime, image.name or result.name))
        flow.metadata[NAME] = _State(files)

    async def attempt(self, flow: Flow) -> None:
        state: _State | None = flow.metadata.get(NAME)
        if state is None or flow.lease is None:
            return
        token = flow.lease.token
        inputs = state.prepared.get(token)
        if inputs is None:
            try:
                inputs = await self._prepare(flow.request.prompt, state.files, token)
            except UploadRejected as exc:
                raise validation(f"grok.com refused an image: {exc}", "image",
                                 code="image_rejected") from None
            except (UpstreamHTTPError, TransportError) as exc:  # a timeout is one too
                flow.attempt.failure = call_failure(exc, "image edit preparation")
                return
            state.prepared[token] = inputs
        flow.attempt.edit = inputs

    async def _prepare(self, prompt: str, files: list[Media], token: str) -> EditInputs:
        if self.transport is None:
            raise ApiError(500, "image edit: no upstream transport bound", code="server_error")
        payload = self.settings.options.upstream.image_edit_payload
        cfg = UpstreamConfig.from_settings(self.settings)
        if self._slots is None:  # one cap for the process, built inside the running loop
            self._slots = asyncio.Semaphore(
                max(1, self.settings.options.batch.asset_upload_concurrency))

        async def upload(media: Media):
            assert self._slots is not None and self.transport is not None
            async with self._slots:
                return await upload_image(self.transport, cfg, token, payload, media.name,
                                          media.mime, media.data)

        results = await asyncio.gather(*(upload(f) for f in files), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        file_ids = [r.file_id for r in results]
        inputs = EditInputs(payload, replace_placeholders(prompt, file_ids), file_ids,
                            [content_url(cfg, r) for r in results])
        if payload == "model_config":
            inputs.post_id, inputs.prompt = await create_media_post(
                self.transport, cfg, token, inputs.prompt)
        return inputs
