"""An image edit's inputs on the leased account: the client's images uploaded there and, in
the older payload generation, the media post the edit hangs under (docs/upstream.md, "Image
edit").

`request` decodes the images once (the route checked them: real PNG, JPEG or WebP, within the
limits). `attempt` prepares them on the account the try leased, keeps what it made per
account for a later try on the same account, and hands it to the request builder in
`flow.attempt.edit`. A failed upload or media post is that account's failure, like a failed
chat: it becomes `flow.attempt.failure`, nothing more is sent on that try, and the retry
addon classifies it (failover to another account, which prepares again). An image grok.com
refuses (`terminalError`) is the client's: a 400 naming it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from addons.errors import ApiError, validation
from addons.events import UpstreamFailure
from addons.flow import Flow
from addons.services.fetch import Media, MediaError, decode_data_uri
from addons.upstream.base import TransportError, UpstreamTimeout
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.image_edit import (
    PAYLOADS, EditInputs, content_url, create_media_post, replace_placeholders, upload_image,
)
from addons.upstream.ratelimits import ShortCallTransport
from addons.upstream.upload import UploadRejected
from state.options import Loader

NAME = "image_edit"


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
        files: list[Media] = []
        for i, image in enumerate(flow.request.images):
            try:
                media = await asyncio.to_thread(decode_data_uri, image.url, 1 << 40)
            except MediaError as exc:  # the route made these: a bug, not the client's
                raise ApiError(500, f"image {i} could not be decoded: {exc}",
                               code="internal_error") from None
            files.append(Media(media.data, media.mime, image.name or media.name))
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
            except UpstreamHTTPError as exc:
                flow.attempt.failure = UpstreamFailure(
                    exc.status, f"image edit preparation failed: {exc.body}", exc.body)
                return
            except UpstreamTimeout as exc:
                flow.attempt.failure = UpstreamFailure(504, f"image edit preparation failed: {exc}")
                return
            except TransportError as exc:
                flow.attempt.failure = UpstreamFailure(502, f"image edit preparation failed: {exc}")
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
