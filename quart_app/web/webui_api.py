"""The web chat's JSON API (api-surface §10.10), authenticated by `webui_auth.WebuiAuth`:

* `GET /webui/api/verify`: `{"status": "ok"}` for a caller who may use the API;
* `GET /webui/api/models`: every enabled model, like `/v1/models`, with its `capability`
  (`chat` | `image` | `image_edit` | `video`), so the page can group them;
* `POST /webui/api/chat/completions`: `/v1/chat/completions` itself (the same handler on the
  fast path, `routes_v1.chat_completions`), run as the client `webui` (or `admin`);
* `POST /webui/api/voice/token`: `/v1/voice/token` (a LiveKit token from a super or heavy
  account) for a WebUI caller;
* `WS /webui/api/imagine/ws`: image generation over a socket (`webui_imagine`).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Mapping

from quart import Blueprint, Response, current_app, request

from quart_app.fastpath import Handler, Reply
from quart_app.routes_audio import voice_token_answer
from quart_app.routes_v1 import chat_completions, json_response, model_object
from quart_app.web.webui_auth import WebuiAuth

__all__ = ["EXTENSION", "bp", "fast_routes", "webui_auth"]

EXTENSION = "grok2api_webui"
CHAT_PATH = "/webui/api/chat/completions"

bp = Blueprint("webui_api", __name__, url_prefix="/webui/api")


def webui_auth() -> WebuiAuth:
    return current_app.extensions[EXTENSION]


async def webui_chat(auth: WebuiAuth, svc: Any, headers: Mapping[str, str],
                     raw: bytes) -> Reply:
    """The chat completion of `/v1/chat/completions`, for a WebUI caller."""
    client = await auth.client(headers, unsafe=True)
    return await chat_completions(svc, headers, raw, client=client, dialect="webui.chat")


def fast_routes(auth: WebuiAuth) -> dict[str, Handler]:
    """The fast-path routes of the web chat (a chat stream is as hot here as on /v1)."""
    return {CHAT_PATH: partial(webui_chat, auth)}


#: What the chat and imagine pages can use (api-surface §10.10); the audio models are not.
PAGE_CAPABILITIES = frozenset({"chat", "image", "image_edit", "video"})


@bp.get("/verify")
async def verify() -> Response:
    await webui_auth().client(request.headers, unsafe=False)
    return json_response({"status": "ok"})


@bp.get("/models")
async def models() -> Response:
    await webui_auth().client(request.headers, unsafe=False)
    svc = current_app.extensions["grok2api"]
    data = [{**model_object(spec), "capability": spec.capability}
            for spec in svc.catalogue.models() if spec.capability in PAGE_CAPABILITIES]
    return json_response({"object": "list", "data": data})


@bp.post("/voice/token")
async def voice_token() -> Response:
    client = await webui_auth().client(request.headers, unsafe=True)
    return await voice_token_answer(current_app.extensions["grok2api"], request.headers,
                                    await request.get_data(), client=client,
                                    dialect="webui.voice")
