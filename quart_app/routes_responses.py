"""`POST /v1/responses`: the OpenAI Responses API subset (api-surface §4.3)."""
from __future__ import annotations

from quart import Blueprint, Response, request

from addons.auth import Auth
from addons.flow import Flow, new_id
from quart_app.dialects.responses_request import parse_responses_request
from quart_app.dialects.responses_response import complete_response, stream_response
from quart_app.routes_v1 import json_response, read_json, services
from quart_app.sse import sse_response

bp = Blueprint("responses", __name__, url_prefix="/v1")


@bp.post("/responses")
async def create_response() -> Response:
    svc = services()
    svc.settings.reload_if_changed()
    body = await read_json()
    flow = Flow(request=None, client_headers=request.headers, dialect="openai.responses",
                id=new_id("resp_"))
    # auth before validation: a stranger learns nothing about the body rules
    svc.chain.get(Auth).request(flow)
    parsed = parse_responses_request(body, svc.settings)
    flow.request = parsed.chat
    model = parsed.chat.model
    await svc.pipeline.open(flow)  # pre-flight failures are plain JSON errors (GEN-6)
    if parsed.chat.stream:
        stream = stream_response(svc.pipeline, flow, model, parsed.echo)
        svc.pipeline.close_when_dropped(stream, flow)
        return sse_response(stream)
    return json_response(await complete_response(svc.pipeline, flow, model, parsed.echo))
