"""What a client receives for a generated image or video (`MediaResult`): a link to the
local copy, base64, Markdown or HTML, or (only when the operator chose it) the raw upstream
URL.

Raw upstream URLs open only with the owning account's cookies, so by default every link the
gateway hands out is to its own copy (`/v1/files/{image,video}?id=…`), which keeps working
after the upstream stops serving the file. The copy is made while the flow still holds the
account's lease: bytes sent inline are stored as they are, others are downloaded once with
that account's cookies (`MediaCache`).

Formats (docs/configuration.md): `features.image_format` for images in chat answers,
`features.video_format` for videos; the image endpoints and a chat request's own
`response_format` (`url` | `b64_json`) win over them.
"""
from __future__ import annotations

import asyncio
import base64
import html
from collections.abc import Mapping
from typing import Any

from addons.events import MediaResult
from addons.services.media_cache import MediaCache, MediaFetchError, MediaFile
from addons.services.links import file_link, public_base
from state.options import Loader

IMAGE_FORMATS = ("local_md", "local_url", "base64", "grok_url", "grok_md")
VIDEO_FORMATS = ("local_html", "local_url", "grok_url", "grok_html")
#: older names of the formats (the previous gateways' settings)
IMAGE_ALIASES = {"url": "local_url", "b64_json": "base64", "markdown": "local_md"}
VIDEO_ALIASES = {"url": "local_url", "html": "local_html"}
#: a request's `response_format` → the chat format it means
RESPONSE_FORMATS = {"url": "local_md", "b64_json": "base64", "base64": "base64"}


class MediaOutput:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("features.image_format", str, "local_md",
                          "How a chat answer shows a generated image: `local_md` / `local_url` "
                          "(Markdown image / plain link to the gateway's own copy), `base64` "
                          "(a data-URI Markdown image), `grok_url` / `grok_md` (the raw "
                          "upstream URL, which opens only with the account's cookies).",
                          choices=IMAGE_FORMATS, value_aliases=IMAGE_ALIASES)
        loader.add_option("features.video_format", str, "local_html",
                          "How a chat answer shows a generated video: `local_html` / "
                          "`local_url` (a `<video>` tag / plain link to the gateway's own "
                          "copy), `grok_url` / `grok_html` (the raw upstream URL).",
                          choices=VIDEO_FORMATS, value_aliases=VIDEO_ALIASES)
        loader.add_option("features.video_poster_preview", bool, False,
                          "Show a video in a chat answer as its thumbnail linking to the video "
                          "(for chat frontends that do not play `<video>`).")

    def __init__(self, cache: MediaCache, settings: Any) -> None:
        self.cache = cache
        self.settings = settings

    def base(self, headers: Mapping[str, str]) -> str:
        """The origin links start with: `app.app_url`, else the request's own."""
        return public_base(self.settings.options.app.app_url, headers)

    # -- the local copy --------------------------------------------------------------------
    async def file(self, result: MediaResult, token: str) -> MediaFile:
        """The local copy of `result` (stored or downloaded once). Raises MediaFetchError."""
        if result.blob is not None:
            ctype = "image/jpeg" if result.kind == "image" else "video/mp4"
            return await self.cache.store(result.blob, result.kind, ctype, result.url)
        return await self.cache.fetch(result.url, token, result.kind)

    async def link(self, result: MediaResult, token: str, base: str) -> str:
        media = await self.file(result, token)
        return file_link(base, result.kind, media.id)

    async def data(self, result: MediaResult, token: str) -> tuple[str, bytes]:
        """(MIME type, bytes) of `result`."""
        if result.blob is not None:
            return ("image/jpeg" if result.kind == "image" else "video/mp4"), result.blob
        media = await self.file(result, token)
        return media.content_type, await asyncio.to_thread(media.path.read_bytes)

    async def b64(self, result: MediaResult, token: str) -> str:
        return base64.b64encode((await self.data(result, token))[1]).decode("ascii")

    # -- chat text ------------------------------------------------------------------------
    def chat_format(self, kind: str, response_format: str | None = None) -> str:
        """The format of `kind` in a chat answer: the request's `response_format` (images),
        else the setting."""
        if kind == "image" and response_format:
            return RESPONSE_FORMATS[response_format]
        features = self.settings.options.features
        return features.image_format if kind == "image" else features.video_format

    async def chat_text(self, result: MediaResult, token: str, base: str,
                        fmt: str | None = None) -> str:
        """`result` as the text a chat answer carries. Raises MediaFetchError when a local
        format's copy cannot be made: a raw upstream URL is never handed out in its place."""
        fmt = fmt or self.chat_format(result.kind)
        if fmt == "base64":
            mime, data = await self.data(result, token)
            return f"![image](data:{mime};base64,{base64.b64encode(data).decode('ascii')})"
        url = await self.link(result, token, base) if fmt.startswith("local_") else result.url
        if result.kind == "image":
            return url if fmt.endswith("_url") else f"![image]({url})"
        if fmt.endswith("_url"):
            return url
        if self.settings.options.features.video_poster_preview and result.thumbnail:
            poster = result.thumbnail
            if fmt.startswith("local_"):
                try:
                    thumb = await self.cache.fetch(poster, token, "image")
                    poster = file_link(base, "image", thumb.id)
                except MediaFetchError:
                    poster = ""  # the poster is a nicety; the link alone still plays
            if poster:
                return (f'<a href="{html.escape(url)}" target="_blank"><img '
                        f'src="{html.escape(poster)}" alt="video"/></a>')
            return f'<a href="{html.escape(url)}" target="_blank">video</a>'
        return f'<video controls src="{html.escape(url)}"></video>'
