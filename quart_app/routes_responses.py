"""`POST /v1/responses`: the OpenAI Responses API subset (api-surface §4.3), a fast-path
handler (see `quart_app.fastpath`)."""
from __future__ import annotations

from typing import Any, Mapping

from addons.flow import new_id
from quart_app.dialects.responses_request import parse_responses_request
from quart_app.dialects.responses_response import complete_response, stream_response
from quart_app.fastpath import Reply
from quart_app.routes_v1 import authenticated_flow, parse_json


async def create_response(svc: Any, headers: Mapping[str, str], raw: bytes) -> Reply:
    flow = authenticated_flow(svc, headers, dialect="openai.responses", id=new_id("resp_"))
    parsed = parse_responses_request(parse_json(raw), svc.settings)
    flow.request = parsed.chat
    model = parsed.chat.model
    await svc.pipeline.open(flow)  # pre-flight failures are plain JSON errors (GEN-6)
    if parsed.chat.stream:
        stream = stream_response(svc.pipeline, flow, model, parsed.echo)
        svc.pipeline.close_when_dropped(stream, flow)
        return Reply.sse(stream)
    return Reply.json(await complete_response(svc.pipeline, flow, model, parsed.echo))


ROUTES = {"/v1/responses": create_response}
