"""The Anthropic Messages routes (api-surface §4.4): `/v1/messages` and its `count_tokens`.

Errors here leave in Anthropic's envelope (`{"type":"error","error":{…}}`, chosen by path in
`quart_app.errors`); the SDK picks its exception class by HTTP status, so `error.type` keeps
the gateway's §11 values. `anthropic-version` and `anthropic-beta` headers are ignored.
"""
from __future__ import annotations

from quart import Blueprint, Response, request

from addons.auth import Auth
from addons.flow import Flow, new_id
from quart_app.dialects.anthropic_request import parse_messages_request
from quart_app.dialects.anthropic_response import complete_message, input_tokens, stream_messages
from quart_app.routes_v1 import json_response, read_json, services
from quart_app.sse import sse_response

bp = Blueprint("anthropic", __name__, url_prefix="/v1")

DIALECT = "anthropic.messages"


async def _flow() -> Flow:
    """An authenticated flow carrying the parsed body. Auth runs before validation so a
    stranger learns nothing about the body rules."""
    svc = services()
    svc.settings.reload_if_changed()
    body = await read_json()
    flow = Flow(request=None, client_headers=request.headers, dialect=DIALECT,
                id=new_id("msg_"))
    svc.chain.get(Auth).request(flow)
    flow.request = parse_messages_request(body, svc.settings)
    return flow


@bp.post("/messages")
async def messages() -> Response:
    svc = services()
    flow = await _flow()
    model = flow.request.model
    await svc.pipeline.open(flow)
    if flow.request.stream:
        body = stream_messages(svc.pipeline, flow, model)
        svc.pipeline.close_when_dropped(body, flow)
        return sse_response(body)
    return json_response(await complete_message(svc.pipeline, flow, model))


@bp.post("/messages/count_tokens")
async def count_tokens() -> Response:
    """Runs the chain's request hooks only (auth, model, prompt building: no account is
    leased), so the count is the `input_tokens` a real call would report, tool block included."""
    svc = services()
    flow = await _flow()
    try:
        await svc.chain.request(flow)
    finally:
        await svc.chain.finish(flow)
    return json_response({"input_tokens": input_tokens(flow)})
