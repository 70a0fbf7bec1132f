"""`POST /v1/responses`: the OpenAI Responses API subset, a fast-path handler (see
`quart_app.fastpath`)."""
from __future__ import annotations

from typing import Any, Mapping

from addons.flow import ChatRequest, new_id
from quart_app.dialects.responses_request import parse_responses_request
from quart_app.dialects.responses_response import complete_response, stream_response
from quart_app.dialects.chat_media_response import media_as_chat
from quart_app.fastpath import Reply
from quart_app.routes_v1 import json_body, new_flow


async def create_response(svc: Any, headers: Mapping[str, str], raw: bytes) -> Reply:
    flow = new_flow(svc, headers, dialect="openai.responses", id=new_id("resp_"))
    parsed = None

    def parse() -> ChatRequest:
        nonlocal parsed
        parsed = parse_responses_request(json_body(headers, raw), svc.settings)
        return parsed.chat

    # errors before the upstream answers are plain JSON errors, even for a stream
    await svc.pipeline.open(flow, parse)
    model = parsed.chat.model
    if parsed.chat.stream:
        stream = stream_response(media_as_chat(svc, flow), flow, model, parsed.echo)
        svc.pipeline.close_when_dropped(stream, flow)
        return Reply.sse(stream)
    return Reply.json(await complete_response(media_as_chat(svc, flow), flow, model, parsed.echo))


ROUTES = {"/v1/responses": create_response}
