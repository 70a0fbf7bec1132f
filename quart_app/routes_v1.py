"""The OpenAI-compatible /v1 routes: models (Quart) and chat completions (a fast-path
handler, see `quart_app.fastpath`)."""
from __future__ import annotations

from typing import Any, Mapping

import orjson
from quart import Blueprint, Response, current_app, request

from addons.errors import ApiError
from addons.flow import ClientKey, Flow
from quart_app.content_type import require_json
from addons.jobs import JobRequest
from quart_app.dialects.chat_media_request import parse_chat_media
from quart_app.dialects.chat_media_response import media_as_chat
from quart_app.dialects.chat_model import ChatBody
from quart_app.dialects.openai_chat_request import chat_job
from quart_app.dialects.openai_chat_response import complete_chat, stream_chat
from quart_app.dialects.schema import decode
from quart_app.fastpath import Reply

bp = Blueprint("v1", __name__, url_prefix="/v1")


def services():
    return current_app.extensions["grok2api"]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


def json_body(headers: Mapping[str, str], raw: bytes) -> bytes:
    """The body of a JSON route, once its Content-Type says JSON (the dialect's typed model
    decodes it)."""
    require_json(headers)
    return raw


def new_flow(svc: Any, headers: Mapping[str, str], **kw: Any) -> Flow:
    """A flow for one client request, on the current settings."""
    svc.settings.reload_if_changed()
    return Flow(client_headers=headers, **kw)


def model_object(spec, alias: str | None = None) -> dict:
    """`alias`: the older name this object answers for (its `root` is the model itself)."""
    data = {"id": alias or spec.id, "object": "model", "created": 1767225600,
            "owned_by": "xai", "name": spec.name}
    if alias:
        data["root"] = spec.id
    if spec.context_length:
        data["context_length"] = spec.context_length
    return data


async def authenticate() -> Flow:
    """The chain's request-header hooks (auth) for a route that runs no job; the flow says
    who the client is."""
    svc = services()
    flow = new_flow(svc, request.headers)
    await svc.pipeline.prepare(flow)
    return flow


def visible_models(flow: Flow) -> list:
    """The available models, only those on the allow-list of the client's managed key."""
    svc = services()
    models = svc.available_models()
    client = flow.client
    record = svc.keys.get(client.id) if client is not None and client.id is not None else None
    if record is not None and record.policy.models:
        allowed = set(record.policy.models)
        models = [m for m in models if m.id in allowed]
    return models


@bp.get("/models")
async def list_models() -> Response:
    flow = await authenticate()
    svc = services()
    with_aliases = svc.settings.options.models.list_aliases
    data = []
    for spec in visible_models(flow):
        data.append(model_object(spec))
        if with_aliases:
            data.extend(model_object(spec, alias) for alias in svc.catalogue.aliases_of(spec.id))
    return json_response({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    flow = await authenticate()
    target = services().catalogue.resolve(model_id)  # an older name answers as its successor
    for spec in visible_models(flow):
        if spec.id == model_id or (target is not None and spec.id == target.id):
            return json_response(model_object(spec, None if spec.id == model_id else model_id))
    raise ApiError(404, f"Model '{model_id}' does not exist or is not available.",
                   type="validation_error", code="model_not_found", param="model")


async def chat_completions(svc: Any, headers: Mapping[str, str], raw: bytes, *,
                           client: ClientKey | None = None,
                           dialect: str = "openai.chat") -> Reply:
    """`client`: who the caller is when its route authenticated it (the web chat), else the
    auth addon decides from the API key."""
    flow = new_flow(svc, headers, client=client, dialect=dialect)

    def parse() -> JobRequest:
        """A chat job, or the media job of an image or video model."""
        body = decode(json_body(headers, raw), ChatBody)
        spec = svc.catalogue.resolve(body.model)
        if spec is not None and spec.capability != "chat":
            return parse_chat_media(body, svc.settings, spec)
        return chat_job(body, svc.settings)

    # errors before the upstream answers are plain JSON errors, even for a stream
    await svc.pipeline.open(flow, parse)
    model = flow.request.model
    source = media_as_chat(svc, flow)
    if flow.request.stream:
        body = stream_chat(source, flow, model)
        svc.pipeline.close_when_dropped(body, flow)
        return Reply.sse(body)
    return Reply.json(await complete_chat(source, flow, model))


ROUTES = {"/v1/chat/completions": chat_completions}
