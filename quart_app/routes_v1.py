"""The OpenAI-compatible /v1 routes served by this build: models and chat completions."""
from __future__ import annotations

import orjson
from quart import Blueprint, Response, current_app, request

from addons.auth import Auth
from addons.errors import ApiError, validation
from addons.flow import Flow
from quart_app.dialects.openai_chat_request import parse_chat_request
from quart_app.dialects.openai_chat_response import complete_chat, stream_chat
from quart_app.sse import sse_response

bp = Blueprint("v1", __name__, url_prefix="/v1")


def services():
    return current_app.extensions["grok2api"]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


async def read_json() -> object:
    raw = await request.get_data()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation(f"Request body is not valid JSON: {exc}") from None


def model_object(spec) -> dict:
    data = {"id": spec.id, "object": "model", "created": 1767225600, "owned_by": "xai",
            "name": spec.name}
    if spec.context_length:
        data["context_length"] = spec.context_length
    return data


def authenticate() -> None:
    svc = services()
    svc.chain.get(Auth).request(Flow(request=None, client_headers=request.headers))


@bp.get("/models")
async def list_models() -> Response:
    authenticate()
    svc = services()
    data = [model_object(m) for m in svc.available_models()]
    return json_response({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    authenticate()
    for spec in services().available_models():
        if spec.id == model_id:
            return json_response(model_object(spec))
    raise ApiError(404, f"Model '{model_id}' does not exist or is not available.",
                   type="validation_error", code="model_not_found", param="model")


@bp.post("/chat/completions")
async def chat_completions() -> Response:
    svc = services()
    svc.settings.reload_if_changed()
    body = await read_json()
    flow = Flow(request=None, client_headers=request.headers)
    # auth before validation: a stranger learns nothing about the body rules
    svc.chain.get(Auth).request(flow)
    flow.request = parse_chat_request(body, svc.settings)
    model = flow.request.model
    await svc.pipeline.open(flow)
    if flow.request.stream:
        body = stream_chat(svc.pipeline, flow, model)
        svc.pipeline.close_when_dropped(body, flow)
        return sse_response(body)
    return json_response(await complete_chat(svc.pipeline, flow, model))
