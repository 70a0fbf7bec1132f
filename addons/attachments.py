"""Client attachments (images, audio, documents): resolved once, uploaded per leased account.

`request` turns every `Attachment` into bytes + MIME + name exactly once (data URIs decoded,
URLs fetched by the SSRF-guarded client in `media_fetch`), enforcing the `[attachments]`
limits. Any problem there is the client's: a 400 naming the attachment, never a 502 and never
an account penalty. `attempt` uploads the files to the account the attempt leased (an upload
belongs to one account), caching the ids per account, and hands them to the request builder
in `flow.attempt.file_ids`.

An upload failure is a failure of that account, like a failed chat: it becomes
`flow.attempt.failure`, the pipeline then skips the chat call and the retry addon classifies
the failure exactly as it would a chat reply (invalid-credential markers, 401, 429, 5xx), so
the flow fails over to another account, which uploads again.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from addons.errors import ApiError, validation
from addons.flow import Flow
from addons.jobs import Attachment
from addons.services.fetch import (
    FetchLimits, Media, MediaError, is_data_uri, shown_url, limits_from, resolve,
)
from addons.upstream.base import TransportError
from addons.upstream.classify import UpstreamHTTPError, call_failure
from addons.upstream.config import UpstreamConfig
from addons.upstream.prompt import flatten
from addons.upstream.ratelimits import ShortCallTransport
from addons.upstream.upload import UploadRejected, Uploader, upload_file
from state.options import Loader

NAME = "attachments"


@dataclass(slots=True)
class _State:
    files: list[Media]
    uploaded: dict[str, list[str]] = field(default_factory=dict)  # account token → file ids


def _label(index: int, att: Attachment) -> str:
    where = "data URI" if is_data_uri(att.url) else shown_url(att.url)
    return f"attachment {index + 1} ({att.kind}, {where})"


class Attachments:
    @staticmethod
    def load(loader: Loader) -> None:
        """Client images, audio and documents, uploaded to the serving account."""
        loader.add_option("attachments.max_count", int, 10,
                          "Most attachments one request may carry.")
        loader.add_option("attachments.max_file_bytes", int, 25 * 1024 * 1024,
                          "Largest file in bytes, after decoding a data URI or downloading a URL "
                          "(25 MiB).")
        loader.add_option("attachments.max_total_bytes", int, 50 * 1024 * 1024,
                          "Largest total of all files of one request, in bytes (50 MiB).")
        loader.add_option("attachments.fetch_timeout", float, 30.0,
                          "Seconds allowed to download one attachment URL, redirects included.")
        loader.add_option("attachments.max_redirects", int, 3,
                          "Redirects followed when downloading an attachment URL (each hop is "
                          "checked again).")
        loader.add_option("attachments.allow_private_urls", bool, False,
                          "Allow attachment URLs on loopback, private, link-local and reserved "
                          "addresses (turns the SSRF guard off).")
        loader.add_option("batch.asset_upload_concurrency", int, 10,
                          "Uploads to grok.com in flight at once, over all requests. Read once, "
                          "at the first upload.")

    def __init__(self, settings: Any, transport: ShortCallTransport | None = None) -> None:
        self.settings = settings
        #: the shared grok.com transport, bound by the services on start
        self.transport = transport
        #: `upload_file` (JSON, REST chat) or `upload_file_v2` (multipart, mgw chat), bound by
        #: the services
        self.uploader: Uploader = upload_file
        self._upload_slots: asyncio.Semaphore | None = None

    def bind(self, transport: ShortCallTransport, uploader: Uploader | None = None) -> None:
        self.transport = transport
        if uploader is not None:
            self.uploader = uploader

    # ---- request: resolve once ----------------------------------------------------
    def _limits(self) -> FetchLimits:
        return limits_from(self.settings)

    @staticmethod
    def _param(flow: Flow) -> str:
        return "input" if flow.dialect == "openai.responses" else "messages"

    async def request(self, flow: Flow) -> None:
        if flow.request.kind != "chat" or (flow.model is not None and flow.model.console):
            return  # a media job uploads its own references; the console takes images inline
        found = [a for m in flow.request.messages for a in m.attachments]
        if not found:
            return
        if not flatten(flow.request.messages).strip():
            return  # no text at all: the request builder answers the 400, fetch nothing
        param = self._param(flow)
        max_count = self.settings.options.attachments.max_count
        if len(found) > max_count:
            raise validation(f"Too many attachments: {len(found)}, at most {max_count} per request",
                             param, code="too_many_attachments")
        limits = self._limits()
        results = await asyncio.gather(*(self._resolve(a, limits) for a in found),
                                       return_exceptions=True)
        files: list[Media] = []
        for i, (att, result) in enumerate(zip(found, results)):
            if isinstance(result, MediaError):
                data_uri = is_data_uri(att.url)
                code = "invalid_data_uri" if data_uri else (
                    "invalid_image_url" if att.kind == "image" else "invalid_file_url")
                raise validation(f"{_label(i, att)}: {result}", param, code=code)
            if isinstance(result, BaseException):
                raise result
            files.append(result)
        total = sum(len(f.data) for f in files)
        max_total = self.settings.options.attachments.max_total_bytes
        if total > max_total:
            raise validation(f"Attachments total {total} bytes, more than the {max_total} byte limit",
                             param, code="attachment_too_large")
        flow.metadata[NAME] = _State(files)

    @staticmethod
    async def _resolve(att: Attachment, limits: FetchLimits) -> Media:
        media = await resolve(att.url, limits)
        if att.name:
            media = Media(media.data, media.mime, att.name)
        return media

    # ---- attempt: upload to the leased account --------------------------------------
    async def attempt(self, flow: Flow) -> None:
        state: _State | None = flow.metadata.get(NAME)
        if state is None or not state.files or flow.lease is None:
            return
        token = flow.lease.token
        ids = state.uploaded.get(token)
        if ids is None:
            try:
                ids = await self._upload_all(state.files, token)
            except UploadRejected as exc:
                # the file's fault, not the account's: a client error, no account penalty
                raise validation(f"grok.com refused an attachment: {exc}", "messages",
                                 code="attachment_rejected") from None
            except (UpstreamHTTPError, TransportError) as exc:  # a timeout is one too
                flow.attempt.failure = call_failure(exc, "attachment upload")
                return
            state.uploaded[token] = ids
        flow.attempt.file_ids = list(ids)

    async def _upload_all(self, files: list[Media], token: str) -> list[str]:
        if self.transport is None:
            raise ApiError(500, "attachments: no upstream transport bound", code="server_error")
        if self._upload_slots is None:  # one cap for the process, built inside the running loop
            self._upload_slots = asyncio.Semaphore(
                max(1, self.settings.options.batch.asset_upload_concurrency))
        cfg = UpstreamConfig.from_settings(self.settings)
        results = await asyncio.gather(*(self._upload(cfg, token, f) for f in files),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, str)]

    async def _upload(self, cfg: UpstreamConfig, token: str, media: Media) -> str:
        assert self._upload_slots is not None and self.transport is not None
        async with self._upload_slots:
            uploaded = await self.uploader(self.transport, cfg, token, media.name, media.mime,
                                           media.data)
        return uploaded.file_id
