"""Renders an image job's events as OpenAI's images API: one JSON body, or SSE events.

Each `MediaResult` becomes a link to the gateway's own copy (`url`) or the bytes
(`b64_json`) while the flow still holds the account's lease (`MediaOutput`). The JSON body
is `{"created", "data": [...], "usage", "moderated"}`: `moderated` counts the requested
images the upstream withheld (content moderation), so a client that asked for four and got
three knows why. A stream sends `image_generation.partial_image` per progress step (the
preview's base64 when the upstream sent one, else an empty string) and
`image_generation.completed` per image.
"""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator

from addons.errors import ApiError
from addons.events import End, Heartbeat, MediaModerated, MediaProgress, MediaResult, Restart
from addons.flow import Flow
from addons.services.media_cache import MediaFetchError
from quart_app import sse

log = logging.getLogger(__name__)

USAGE = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0,
         "input_tokens_details": {"text_tokens": 0, "image_tokens": 0}}


async def _item(output: Any, flow: Flow, result: MediaResult, base: str) -> dict[str, str]:
    """One entry of `data`: a link to the local copy, or the base64 bytes."""
    token = flow.lease.token
    if flow.request.response_format == "b64_json":
        return {"b64_json": await output.b64(result, token)}
    try:
        return {"url": await output.link(result, token, base)}
    except MediaFetchError as exc:
        log.warning("could not keep a local copy of a generated image (%s); the answer "
                    "carries the upstream URL", exc)
        return {"url": result.url}


def _moderated(flow: Flow, withheld: int, made: int) -> int:
    """Requested images missing because the upstream withheld them."""
    return max(0, min(withheld, flow.request.n - made))


async def complete_images(pipeline: Any, output: Any, flow: Flow) -> dict[str, Any]:
    """The non-stream body. Raises ApiError when the flow fails."""
    base = output.base(flow.client_headers)
    data: list[dict[str, str]] = []
    withheld = 0
    try:
        async for batch in pipeline.events(flow):
            for ev in batch:
                cls = type(ev)
                if cls is MediaResult:
                    data.append(await _item(output, flow, ev, base))
                elif cls is MediaModerated:
                    withheld += 1
                elif cls is Restart:
                    data, withheld = [], 0
    finally:
        await pipeline.close(flow)
    return {"created": flow.created, "data": data, "usage": USAGE,
            "moderated": _moderated(flow, withheld, len(data))}


async def stream_images(pipeline: Any, output: Any, flow: Flow) -> AsyncIterator[bytes]:
    """The SSE body. Runs after `pipeline.open()` succeeded; always closes the pipeline."""
    req = flow.request
    base = output.base(flow.client_headers)
    field = "b64_json" if req.response_format == "b64_json" else "url"
    partials: dict[int, int] = {}
    tail = b""
    try:
        yield sse.PING
        async for batch in pipeline.events(flow):
            out: list[bytes] = []
            for ev in batch:
                cls = type(ev)
                if cls is MediaProgress:
                    step = partials.get(ev.index, 0)
                    partials[ev.index] = step + 1
                    preview = ev.preview if field == "b64_json" and ev.preview else ""
                    out.append(sse.event("image_generation.partial_image", {
                        "type": "image_generation.partial_image", field: preview,
                        "index": ev.index, "progress": ev.progress, "partial_image_index": step,
                        "created_at": flow.created, "size": req.size}))
                elif cls is MediaResult:
                    item = await _item(output, flow, ev, base)
                    out.append(sse.event("image_generation.completed", {
                        "type": "image_generation.completed", **item, "index": ev.index,
                        "created_at": flow.created, "size": req.size, "usage": USAGE}))
                elif cls is Heartbeat:
                    out.append(sse.PING)
                elif cls is End:
                    pass
            if out:
                yield b"".join(out)
    except ApiError as err:
        tail = sse.event("error", {"error": err.to_dict()})
    except Exception:  # noqa: BLE001 - the client still gets a well-formed end of stream
        log.exception("image stream %s failed", flow.id)
        err = ApiError(500, "Internal server error", type="server_error", code="internal_error")
        tail = sse.event("error", {"error": err.to_dict()})
    finally:
        await pipeline.close(flow)
    yield tail + sse.DONE
