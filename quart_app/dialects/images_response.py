"""The answers of the image endpoints (`/v1/images/generations`, `/v1/images/edits`): one
JSON body, or an SSE stream of `<prefix>.partial_image` / `<prefix>.completed` events.

Each finished image (`MediaResult`) becomes `{"url": <link to the gateway's copy>}` or
`{"b64_json": …}` while the flow still holds its account (whose cookies the download
needs). An image whose copy cannot be made is left out (and logged), never replaced by the
raw upstream URL; when nothing is left the request fails. Moderated slots only lower the
count: the JSON body says in `moderated` how many of the requested images were withheld
(never more than are missing: the imagine socket may see a withheld slot again in a later
round).
"""
from __future__ import annotations

import logging
import time
from typing import Any, AsyncIterator

from addons.errors import ApiError
from addons.events import Heartbeat, MediaModerated, MediaProgress, MediaResult, Restart
from addons.flow import Flow
from addons.services.media_cache import MediaFetchError
from addons.services.media_output import MediaOutput
from quart_app import sse

log = logging.getLogger(__name__)

#: images cost no tokens; clients that read `usage` find the shape they expect
USAGE = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0,
         "input_tokens_details": {"text_tokens": 0, "image_tokens": 0}}


def nothing_delivered() -> ApiError:
    return ApiError(502, "The generated images could not be retrieved from grok.com",
                    type="upstream_error", code="media_unavailable")


class ImageItems:
    """Turns the flow's results into response items, in the requested format."""

    def __init__(self, output: MediaOutput, flow: Flow, response_format: str, base: str) -> None:
        self.output = output
        self.flow = flow
        #: `base64` is the older name of `b64_json`
        self.field = "url" if response_format == "url" else "b64_json"
        self.base = base

    async def value(self, result: MediaResult) -> str | None:
        """The link or base64 of `result`; None when its copy could not be made."""
        token = self.flow.lease.token
        try:
            if self.field == "url":
                return await self.output.link(result, token, self.base)
            return await self.output.b64(result, token)
        except MediaFetchError as exc:
            log.warning("flow %s: a generated image is left out: %s", self.flow.id, exc)
            return None


async def complete_images(pipeline: Any, flow: Flow, items: ImageItems) -> dict[str, Any]:
    """The JSON body. Runs after `pipeline.open()` succeeded; always closes the pipeline."""
    data: list[tuple[int, dict[str, str]]] = []
    moderated = 0
    try:
        async for batch in pipeline.events(flow):
            for ev in batch:
                cls = type(ev)
                if cls is MediaResult and ev.kind == "image":
                    value = await items.value(ev)
                    if value is not None:
                        data.append((ev.index, {items.field: value}))
                elif cls is MediaModerated:
                    moderated += 1
                elif cls is Restart:
                    data, moderated = [], 0
    finally:
        await pipeline.close(flow)
    if not data:
        raise nothing_delivered()
    body: dict[str, Any] = {"created": flow.created,
                            "data": [item for _, item in sorted(data, key=lambda d: d[0])],
                            "usage": USAGE}
    asked = getattr(flow.request, "n", None)
    if asked is not None:
        moderated = min(moderated, max(0, asked - len(data)))
    if moderated:
        body["moderated"] = moderated
    return body


async def stream_images(pipeline: Any, flow: Flow, items: ImageItems, size: str,
                        prefix: str = "image_generation") -> AsyncIterator[bytes]:
    """The SSE body: a `partial_image` event per progress step of a slot (its preview as
    base64 when the upstream sent one and the client asked for base64, else empty), a
    `completed` event per finished image, `[DONE]` at the end."""
    partials: dict[int, int] = {}
    delivered = 0
    tail = b""
    try:
        yield sse.PING
        async for batch in pipeline.events(flow):
            out: list[bytes] = []
            for ev in batch:
                cls = type(ev)
                if cls is MediaProgress and ev.kind == "image":
                    number = partials.get(ev.index, 0)
                    partials[ev.index] = number + 1
                    preview = ev.preview if items.field == "b64_json" and ev.preview else ""
                    out.append(sse.event(f"{prefix}.partial_image", {
                        "type": f"{prefix}.partial_image", items.field: preview,
                        "index": ev.index, "progress": ev.progress,
                        "partial_image_index": number, "created_at": int(time.time()),
                        "size": size}))
                elif cls is MediaResult and ev.kind == "image":
                    value = await items.value(ev)
                    if value is None:
                        continue
                    delivered += 1
                    out.append(sse.event(f"{prefix}.completed", {
                        "type": f"{prefix}.completed", items.field: value, "index": ev.index,
                        "created_at": int(time.time()), "size": size, "usage": USAGE}))
                elif cls is Heartbeat:
                    out.append(sse.PING)
            if out:
                yield b"".join(out)
        if not delivered:
            raise nothing_delivered()
    except Exception as exc:  # noqa: BLE001 - the client still gets a well-formed end
        tail = sse.error_tail(exc, log, flow.id)
    finally:
        await pipeline.close(flow)
    yield tail + sse.DONE
