"""The Anthropic Messages routes: `/v1/messages` and its `count_tokens`, fast-path handlers
(see `quart_app.fastpath`).

Errors here leave in Anthropic's envelope (`{"type":"error","error":{…}}`, chosen by path in
`quart_app.errors`); the SDK picks its exception class by HTTP status, so `error.type` keeps
the gateway's own values. `anthropic-version` and `anthropic-beta` headers are ignored.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from addons.flow import ChatRequest, Flow, new_id
from quart_app.dialects.anthropic_request import parse_messages_request
from quart_app.dialects.anthropic_response import complete_message, input_tokens, stream_messages
from quart_app.dialects.chat_media_response import media_as_chat
from quart_app.fastpath import Reply
from quart_app.routes_v1 import json_body, new_flow

DIALECT = "anthropic.messages"


def _flow(svc: Any, headers: Mapping[str, str]) -> Flow:
    return new_flow(svc, headers, dialect=DIALECT, id=new_id("msg_"))


def _parser(svc: Any, headers: Mapping[str, str], raw: bytes) -> Callable[[], ChatRequest]:
    return lambda: parse_messages_request(json_body(headers, raw), svc.settings)


async def messages(svc: Any, headers: Mapping[str, str], raw: bytes) -> Reply:
    flow = _flow(svc, headers)
    await svc.pipeline.open(flow, _parser(svc, headers, raw))
    model = flow.request.model
    if flow.request.stream:
        body = stream_messages(media_as_chat(svc, flow), flow, model)
        svc.pipeline.close_when_dropped(body, flow)
        return Reply.sse(body)
    return Reply.json(await complete_message(media_as_chat(svc, flow), flow, model))


async def count_tokens(svc: Any, headers: Mapping[str, str], raw: bytes) -> Reply:
    """Runs the chain up to its request hooks (auth, model, prompt building: no account is
    leased), so the count is the `input_tokens` a real call would report, tool block included."""
    flow = _flow(svc, headers)
    await svc.pipeline.prepare(flow, _parser(svc, headers, raw))
    return Reply.json({"input_tokens": input_tokens(flow)})


ROUTES = {"/v1/messages": messages, "/v1/messages/count_tokens": count_tokens}
