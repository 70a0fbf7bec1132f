"""`POST /v1/images/generations` (a fast-path handler, see `quart_app.fastpath`) and
`GET /v1/images/method` (Quart).

The body is parsed and checked (`dialects/images_model.py`) after the API key, before any
account is leased; the images come through the chain like any job (`ImageRequest`, the
imagine WebSocket with the chat-based path as fallback) and are rendered by
`dialects/images_response.py`: JSON, or SSE `image_generation.partial_image` /
`image_generation.completed` events.
"""
from __future__ import annotations

from typing import Any, Mapping

from quart import Blueprint, Response

from quart_app.dialects.images_model import parse_image_request
from quart_app.dialects.images_response import ImageItems, complete_images, stream_images
from quart_app.fastpath import Reply
from quart_app.routes_v1 import authenticate, json_body, json_response, new_flow

bp = Blueprint("images", __name__, url_prefix="/v1/images")

#: what `GET /v1/images/method` reports: generation runs over the imagine WebSocket
IMAGE_METHOD = "imagine_ws_experimental"


@bp.get("/method")
async def image_method() -> Response:
    await authenticate()
    return json_response({"image_generation_method": IMAGE_METHOD})


async def images_generations(svc: Any, headers: Mapping[str, str], raw: bytes) -> Reply:
    flow = new_flow(svc, headers, dialect="openai.images")
    # errors before the upstream answers are plain JSON errors, even for a stream
    await svc.pipeline.open(flow, lambda: parse_image_request(json_body(headers, raw),
                                                              svc.catalogue, svc.settings))
    req = flow.request
    items = ImageItems(svc.media_output, flow, req.response_format,
                       svc.media_output.base(headers))
    if req.stream:
        body = stream_images(svc.pipeline, flow, items, req.size)
        svc.pipeline.close_when_dropped(body, flow)
        return Reply.sse(body)
    return Reply.json(await complete_images(svc.pipeline, flow, items))


ROUTES = {"/v1/images/generations": images_generations}
