"""`GET /openapi.json`: the OpenAPI 3.1 document of the `/v1`, admin and WebUI API routes,
and of the operator's health probes and Prometheus scrape (the imagine WebSocket, which
OpenAPI cannot describe, is in docs/architecture.md).

Request bodies and query strings come from the same typed models that validate them
(`quart_app/dialects/*_model.py`, `quart_app/admin/schemas.py`), so the document cannot drift
from what the gateway accepts; a test checks that every `/v1` and admin route is described
and a schemathesis run checks the answers against it. Built on the first request, then kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec
import orjson
from quart import Blueprint, Response

from quart_app.admin import assets_schemas as media_admin
from quart_app.admin.config import ConfigChanges
from quart_app.admin import keys_schemas as keys_admin
from quart_app.admin import schemas as admin
from quart_app.admin.logs import LogTailQuery
from quart_app.admin import usage_schemas as usage_admin
from quart_app.dialects.anthropic_model import MessagesBody
from quart_app.dialects.audio_model import SpeechBody, VoiceTokenBody
from quart_app.dialects.chat_model import ChatBody
from quart_app.dialects.images_model import ImageGenerationBody
from quart_app.dialects.responses_model import ResponsesBody
from quart_app.dialects.video_request import VideoBody

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{name}"
ADMIN = "/admin/api"
WEBUI = "/webui/api"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _object(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


#: Success bodies, as much of them as a client may rely on.
ANSWERS: dict[str, dict[str, Any]] = {
    "ChatCompletion": _object(
        ("id", "object", "created", "model", "choices"), id={"type": "string"},
        object={"const": "chat.completion"}, created={"type": "integer"},
        model={"type": "string"}, choices={"type": "array", "items": {"type": "object"}},
        usage={"type": "object"}),
    "Response": _object(
        ("id", "object", "status", "output"), id={"type": "string"},
        object={"const": "response"}, status={"type": "string"},
        output={"type": "array", "items": {"type": "object"}}),
    "Message": _object(
        ("id", "type", "role", "content"), id={"type": "string"}, type={"const": "message"},
        role={"const": "assistant"}, content={"type": "array", "items": {"type": "object"}},
        stop_reason={"type": ["string", "null"]}, usage={"type": "object"}),
    "ImageMethod": _object(("image_generation_method",),
                           image_generation_method={"type": "string"}),
    "TokenCount": _object(("input_tokens",), input_tokens={"type": "integer", "minimum": 0}),
    "Model": _object(("id", "object", "owned_by"), id={"type": "string"},
                     object={"const": "model"}, owned_by={"type": "string"},
                     context_length={"type": "integer"},
                     root={"type": "string", "description": "for an older name: the model "
                                                            "it stands for"}),
    "ModelList": _object(("object", "data"), object={"const": "list"},
                         data={"type": "array", "items": _ref("Model")}),
    "WebuiModelList": _object(
        ("object", "data"), object={"const": "list"},
        data={"type": "array", "items": _object(
            ("id", "object", "owned_by", "capability"), id={"type": "string"},
            object={"const": "model"}, owned_by={"type": "string"},
            capability={"enum": ["chat", "image", "image_edit", "video"]})}),
    "WebuiVerify": _object(("status",), status={"const": "ok"}),
    "ErrorDetail": _object(
        ("message", "type"), message={"type": "string"}, type={"type": "string"},
        code={"type": ["string", "null"]}, param={"type": ["string", "null"]},
        status={"type": "integer"}),
    "Error": _object(("error",), error=_ref("ErrorDetail"),
                     request_id={"type": "string", "description": "the X-Request-Id"}),
    "AnthropicError": _object(("type", "error"), type={"const": "error"},
                              error=_ref("ErrorDetail"),
                              request_id={"type": "string", "description": "the X-Request-Id"}),
    "Video": _object(
        ("id", "object", "created_at", "status", "model", "progress", "seconds", "size"),
        id={"type": "string"}, object={"const": "video"}, created_at={"type": "integer"},
        status={"enum": ["queued", "in_progress", "completed", "failed"]},
        model={"type": "string"}, progress={"type": "integer", "minimum": 0, "maximum": 100},
        prompt={"type": ["string", "null"]}, seconds={"type": "string"},
        size={"type": "string"}, completed_at={"type": ["integer", "null"]},
        video_url={"type": "string"},
        error={"type": ["object", "null"], "properties": {"code": {"type": "string"},
                                                          "message": {"type": "string"}}}),
    "ImagesResponse": _object(
        ("created", "data"), created={"type": "integer"},
        data={"type": "array", "items": _object(url={"type": "string"},
                                                b64_json={"type": "string"})},
        moderated={"type": "integer", "minimum": 1,
                   "description": "requested images the upstream withheld (moderation)"},
        usage={"type": "object"}),
    "Transcription": _object(("text",), text={"type": "string"}, task={"type": "string"},
                             language={"type": ["string", "null"]},
                             duration={"type": ["number", "null"]},
                             words={"type": "array", "items": {"type": "object"}}),
    "VoiceToken": _object(("token", "url"), token={"type": "string"}, url={"type": "string"},
                          participant_name={"type": "string"}, room_name={"type": "string"}),
    "AdminResult": {"type": "object"},
    "Health": _object(("status", "accounts", "inflight"), status={"const": "ok"},
                      accounts={"type": "integer", "minimum": 0},
                      inflight={"type": "integer", "minimum": 0},
                      breaker={"type": "object"}, queued={"type": "integer", "minimum": 0}),
    "Liveness": _object(("ok",), ok={"const": True}),
    "Readiness": _object(("ok",), ok={"type": "boolean"},
                         reason={"type": "string", "description": "why it is not ready"}),
    "Version": _object(("version",), version={"type": "string"}),
    # one event of a stream: `data` is a JSON object (or chat's final `[DONE]`)
    "ServerSentEvent": _object(("data",), event={"type": "string"}, data={"type": "string"},
                               id={"type": "string"}),
}

ERRORS = {400: "Invalid request: the error names the parameter",
          401: "Missing or wrong credentials",
          403: "Refused: the admin secret is still the shipped default (use the setup call)",
          404: "Not found",
          405: "Method not allowed", 408: "The body did not arrive in time",
          409: "Conflict", 413: "Body larger than app.max_body_mb",
          415: "Content-Type is not JSON",
          429: "No account can serve the request now, a limit of the API key is reached "
               "(the code names it; Retry-After), or too many wrong admin secrets",
          416: "The Range starts past the end of the file",
          501: "Not available in this build", 502: "Upstream failure",
          503: "Not ready, or upstream unavailable", 504: "Upstream timed out"}
#: 404: a model outside the allow-list of a managed key
JOB_ERRORS = (400, 401, 404, 405, 408, 413, 415, 429, 501, 502, 503, 504)
#: 403: refused while the admin secret is the shipped default; 429: wrong secrets throttled
ADMIN_ERRORS = (400, 401, 403, 405, 408, 413, 415, 429)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    answer: str = "AdminResult"
    body: Any = None
    query: type | None = None
    stream: bool = False
    body_required: bool = True
    errors: tuple[int, ...] = ADMIN_ERRORS
    extra: dict[str, Any] = field(default_factory=dict)
    #: the success answer's media types, when it is not JSON (a file)
    content: dict[str, Any] | None = None
    #: no credentials needed (the unguessable id in the link is the credential)
    public: bool = False
    #: a multipart/form-data body (files), instead of a JSON `body`
    form: dict[str, Any] | None = None
    #: answers described here rather than as the error envelope (status → response object)
    responses: dict[str, Any] = field(default_factory=dict)
    #: security requirements other than the default (the /v1 keys, or the admin secret)
    security: list[dict[str, Any]] | None = None


def _bool_query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["true", "false"]}} for n in names]


def _file_types(*types: str) -> dict[str, Any]:
    return {t: {"schema": {"type": "string", "format": "binary"}} for t in types}


#: the `id` of a cached file, as the cache makes it
_FILE_ID = [{"name": "id", "in": "query", "required": True,
             "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"}}]
_FILE_ERRORS = (400, 404, 416)
_VIDEO_CREATE = (400, 401, 405, 408, 413, 415, 429)

_BINARY = {"type": "string", "format": "binary"}
#: `/v1/images/edits`: the images as `image` (one file) or `image[]` (several)
IMAGE_EDIT_FORM = _object(
    ("prompt",),
    image={"anyOf": [_BINARY, {"type": "array", "items": _BINARY, "maxItems": 7}]},
    **{"image[]": {"type": "array", "items": _BINARY, "maxItems": 7}},
    prompt={"type": "string", "minLength": 1},
    model={"type": "string", "default": "grok-imagine-image-edit"},
    n={"type": "integer", "minimum": 1, "maximum": 2, "default": 1},
    size={"type": "string", "enum": ["1024x1024"], "default": "1024x1024"},
    response_format={"type": "string", "enum": ["url", "b64_json", "base64"],
                     "default": "url"},
    stream={"type": "boolean", "default": False},
    mask={**_BINARY, "description": "Not supported: refused with a 400"})

#: `/v1/audio/transcriptions`: exactly one of `file` or `url`
TRANSCRIPTION_FORM = _object(
    (),
    file=_BINARY,
    url={"type": "string"},
    model={"type": "string", "default": "grok-stt"},
    language={"type": "string"},
    response_format={"type": "string", "enum": ["json", "verbose_json", "text"],
                     "default": "json"},
    audio_format={"type": "string"},
    sample_rate={"type": "integer", "minimum": 1},
    diarize={"type": "boolean"},
    multichannel={"type": "boolean"},
    channels={"type": "integer", "minimum": 1},
    keyterm={"type": "string"},
    vad_threshold={"type": "number"})


OPERATIONS = (
    Operation("post", "/v1/chat/completions", "Chat completion (OpenAI)", "ChatCompletion",
              ChatBody, stream=True, errors=JOB_ERRORS),
    Operation("post", "/v1/responses", "Response (OpenAI Responses)", "Response",
              ResponsesBody, stream=True, errors=JOB_ERRORS),
    Operation("post", "/v1/messages", "Message (Anthropic)", "Message", MessagesBody,
              stream=True, errors=JOB_ERRORS),
    Operation("post", "/v1/messages/count_tokens", "Input tokens of a message", "TokenCount",
              MessagesBody, errors=JOB_ERRORS),
    Operation("post", "/v1/images/generations", "Images from a prompt (OpenAI images)",
              "ImagesResponse", ImageGenerationBody, stream=True, errors=JOB_ERRORS),
    Operation("get", "/v1/images/method", "How images are generated", "ImageMethod",
              errors=(401,)),
    Operation("post", "/v1/images/edits", "Edit images (multipart: image or image[], prompt)",
              "ImagesResponse", stream=True, errors=JOB_ERRORS, form=IMAGE_EDIT_FORM),
    Operation("post", "/v1/audio/speech", "Text to speech (OpenAI audio; the console's TTS)",
              body=SpeechBody, errors=JOB_ERRORS,
              content=_file_types("audio/mpeg", "audio/ogg", "audio/aac", "audio/flac",
                                  "audio/wav", "audio/pcm", "application/json")),
    Operation("post", "/v1/audio/transcriptions",
              "Speech to text (OpenAI audio, multipart: file or url; the console's STT)",
              errors=JOB_ERRORS, form=TRANSCRIPTION_FORM,
              content={"application/json": {"schema": _ref("Transcription")},
                       "text/plain": {"schema": {"type": "string"}}}),
    Operation("post", "/v1/voice/token", "A LiveKit voice token (grok.com, super or heavy "
              "account)", "VoiceToken", VoiceTokenBody, errors=JOB_ERRORS, body_required=False),
    Operation("get", "/v1/models", "Available models", "ModelList", errors=(401,)),
    Operation("get", "/v1/models/{model_id}", "One model", "Model", errors=(401, 404)),
    Operation("get", "/v1/files/image", "A cached image (Range, ETag)", errors=_FILE_ERRORS,
              content=_file_types("image/jpeg", "image/png", "image/webp", "image/gif"),
              public=True, extra={"parameters": _FILE_ID}),
    Operation("get", "/v1/files/video", "A cached video (Range for seeking, ETag)",
              errors=_FILE_ERRORS, content=_file_types("video/mp4", "video/webm"),
              public=True, extra={"parameters": _FILE_ID}),
    Operation("post", "/v1/videos", "Create a video job (JSON; multipart/form-data with "
              "input_reference files also accepted)", "Video", VideoBody, errors=_VIDEO_CREATE),
    Operation("post", "/v1/videos/generations", "Create a video job (alias, JSON)", "Video",
              VideoBody, errors=_VIDEO_CREATE),
    Operation("get", "/v1/videos/{video_id}", "A video job", "Video", errors=(401, 404)),
    Operation("get", "/v1/videos/{video_id}/content", "The finished video (Range, ETag)",
              errors=(401, 404, 409, 416), content=_file_types("video/mp4")),
    # the operator's probes and scrape, outside /v1 and the admin API: no client key
    Operation("get", "/health", "Process status: accounts, requests in flight, the upstream "
              "breaker (200 while the process serves)", "Health", errors=(), public=True),
    Operation("get", "/healthz", "Liveness: the process serves requests (no I/O)",
              "Liveness", errors=(), public=True),
    Operation("get", "/readyz", "Readiness: the database answers, the pool is loaded, an "
              "account is usable", "Readiness", errors=(), public=True,
              responses={"503": {"description": "Not ready; the reason is given",
                                 "content": {"application/json": {"schema": _ref("Readiness")}}}}),
    Operation("get", "/version", "The gateway's version", "Version", errors=(), public=True),
    Operation("get", "/metrics", "Prometheus metrics (text exposition format); needs "
              "Authorization: Bearer <metrics.token> when that is set", errors=(401,),
              content={"text/plain": {"schema": {"type": "string"}}},
              security=[{"metricsBearer": []}, {}]),
    Operation("get", f"{WEBUI}/verify", "Check the WebUI key (app.webui_key)", "WebuiVerify",
              errors=(401, 403)),
    Operation("get", f"{WEBUI}/models", "Every enabled model with its capability (WebUI)",
              "WebuiModelList", errors=(401, 403)),
    Operation("post", f"{WEBUI}/chat/completions", "Chat completion for the web chat (the "
              "/v1 contract, WebUI key)", "ChatCompletion", ChatBody, stream=True,
              errors=(*JOB_ERRORS, 403)),
    Operation("post", f"{WEBUI}/voice/token", "A LiveKit voice token for the web chat (the "
              "/v1/voice/token contract, WebUI key)", "VoiceToken", VoiceTokenBody,
              errors=(*JOB_ERRORS, 403), body_required=False),
    Operation("get", f"{ADMIN}/setup", "First-run setup: is the admin secret the default?"),
    Operation("post", f"{ADMIN}/setup/app_key", "Set a new admin secret",
              body=admin.SetAppKey, errors=(*ADMIN_ERRORS, 409)),
    Operation("get", f"{ADMIN}/verify", "Check the admin key"),
    Operation("post", f"{ADMIN}/login", "Open an admin page session (sets its HttpOnly cookie)",
              body=admin.AdminLogin, errors=(400, 401, 405, 408, 413, 415, 429), public=True),
    Operation("post", f"{ADMIN}/logout", "End the admin page session", body_required=False),
    Operation("get", f"{ADMIN}/config", "The runtime settings: every option with its help, "
              "value and source (secrets: only whether set)", errors=(401, 403, 429)),
    Operation("post", f"{ADMIN}/config", "Save settings to config.toml (all or nothing; "
              "applies at once)", body=ConfigChanges, errors=(*ADMIN_ERRORS, 409)),
    Operation("patch", f"{ADMIN}/config", "Save settings (as POST)", body=ConfigChanges,
              errors=(*ADMIN_ERRORS, 409)),
    Operation("get", f"{ADMIN}/status", "Account directory status", errors=(401, 503)),
    Operation("get", f"{ADMIN}/storage", "Storage kind"),
    Operation("post", f"{ADMIN}/sync", "Save and merge now", errors=(401, 503)),
    Operation("get", f"{ADMIN}/tokens", "List accounts", query=admin.ListTokensQuery),
    Operation("post", f"{ADMIN}/tokens/add", "Add accounts", body=admin.AddTokens),
    Operation("put", f"{ADMIN}/tokens/edit", "Edit an account", body=admin.EditToken,
              errors=(*ADMIN_ERRORS, 404, 409)),
    Operation("delete", f"{ADMIN}/tokens", "Delete accounts", body=admin.TokensBody,
              errors=(*ADMIN_ERRORS, 404)),
    Operation("delete", f"{ADMIN}/tokens/invalid", "Delete expired and disabled accounts "
              "(dry_run=true: only count them)", query=admin.PurgeQuery),
    Operation("post", f"{ADMIN}/tokens/import", "Import a TXT or JSON file of accounts "
              "(dry_run: the preview of what would be added, skipped and rejected)",
              body=admin.ImportTokens),
    Operation("get", f"{ADMIN}/tokens/export", "The filtered accounts as a JSON (by pool) "
              "or TXT download", query=admin.ExportTokensQuery, errors=(400, 401, 403, 429),
              content={"application/json": {"schema": {"type": "object"}},
                       "text/plain": {"schema": {"type": "string"}}}),
    Operation("post", f"{ADMIN}/tokens/disabled", "Disable or enable an account",
              body=admin.SetDisabled, errors=(*ADMIN_ERRORS, 404)),
    Operation("post", f"{ADMIN}/tokens/disabled/batch", "Disable or enable accounts",
              body=admin.SetDisabledBatch),
    Operation("post", f"{ADMIN}/tokens", "Replace the listed pools", body=admin.ReplacePools),
    Operation("put", f"{ADMIN}/tokens/pool", "Replace one pool", body=admin.ReplaceOnePool),
    Operation("put", f"{ADMIN}/pool", "Replace one pool (alias)", body=admin.ReplaceOnePool),
    Operation("post", f"{ADMIN}/batch/refresh", "Refresh quota of accounts",
              body=admin.TokensBody, query=admin.BatchQuery, errors=(*ADMIN_ERRORS, 503),
              extra={"parameters": _bool_query("async")}),
    Operation("post", f"{ADMIN}/batch/nsfw", "NSFW sequence over accounts",
              body=admin.TokensBody, body_required=False, query=admin.BatchQuery,
              errors=(*ADMIN_ERRORS, 501, 503),
              extra={"parameters": _bool_query("async", "enabled")}),
    Operation("get", f"{ADMIN}/batch/{{task_id}}", "A batch task", errors=(401, 404)),
    Operation("get", f"{ADMIN}/batch/{{task_id}}/stream", "A batch task's progress (SSE)",
              stream=True, errors=(401, 404)),
    Operation("post", f"{ADMIN}/batch/{{task_id}}/cancel", "Cancel a batch task",
              errors=(401, 404)),
    Operation("post", f"{ADMIN}/batch/cache-clear", "Delete the online assets of accounts",
              body=admin.TokensBody, body_required=False, query=admin.BatchQuery,
              errors=(*ADMIN_ERRORS, 503), extra={"parameters": _bool_query("async")}),
    Operation("get", f"{ADMIN}/assets", "Online assets of every manageable account",
              errors=(401, 403, 429, 503)),
    Operation("post", f"{ADMIN}/assets/delete-item", "Delete one online asset of an account",
              body=media_admin.DeleteAssetItem, errors=(*ADMIN_ERRORS, 404, 502, 503)),
    Operation("post", f"{ADMIN}/assets/clear-token", "Delete every online asset of an account",
              body=media_admin.ClearAssetsToken, errors=(*ADMIN_ERRORS, 404, 502, 503)),
    Operation("get", f"{ADMIN}/cache", "Local media cache statistics",
              errors=(401, 403, 429)),
    Operation("get", f"{ADMIN}/cache/list", "Files of the local media cache, newest first",
              query=media_admin.CacheListQuery, errors=(400, 401, 403, 429)),
    Operation("post", f"{ADMIN}/cache/clear", "Empty one kind of the local media cache",
              body=media_admin.CacheClear),
    Operation("post", f"{ADMIN}/cache/item/delete", "Delete one cached file",
              body=media_admin.CacheItemDelete, errors=(*ADMIN_ERRORS, 404)),
    Operation("post", f"{ADMIN}/cache/items/delete", "Delete cached files",
              body=media_admin.CacheItemsDelete),
    Operation("get", f"{ADMIN}/metrics", "Datacenter numbers: accounts, media cache, "
              "request statistics", errors=(401, 403, 429)),
    Operation("get", f"{ADMIN}/usage", "Usage series (hourly within 48 h, else daily)",
              query=usage_admin.UsageQuery, errors=(400, 401, 403, 429)),
    Operation("get", f"{ADMIN}/requests", "The request audit log, newest first, paged",
              query=usage_admin.RequestsQuery, errors=(400, 401, 403, 429)),
    Operation("get", f"{ADMIN}/requests/export", "The request audit log as CSV or JSON Lines",
              query=usage_admin.ExportQuery, errors=(400, 401, 403, 429),
              content={"text/csv": {"schema": {"type": "string"}},
                       "application/x-ndjson": {"schema": {"type": "string"}}}),
    Operation("get", f"{ADMIN}/keys", "Managed client keys, with today's usage and remaining "
              "quota (search, status filter, order, page)", query=keys_admin.ListKeysQuery,
              errors=(400, 401, 403, 429)),
    Operation("post", f"{ADMIN}/keys", "Create a client key (its value is in this answer "
              "only)", body=keys_admin.CreateKey),
    Operation("post", f"{ADMIN}/keys/batch", "Create client keys with generated values",
              body=keys_admin.BatchCreateKeys),
    Operation("post", f"{ADMIN}/keys/update", "Change a client key (by id or value)",
              body=keys_admin.UpdateKey, errors=(*ADMIN_ERRORS, 404)),
    Operation("post", f"{ADMIN}/keys/delete", "Delete a client key (by id or value)",
              body=keys_admin.DeleteKey, errors=(*ADMIN_ERRORS, 404)),
    Operation("post", f"{ADMIN}/keys/batch-status", "Enable or disable client keys",
              body=keys_admin.BatchKeyStatus, errors=(*ADMIN_ERRORS, 404)),
    Operation("get", f"{ADMIN}/logs/files", "The log files, newest first",
              errors=(401, 403, 429)),
    Operation("get", f"{ADMIN}/logs/tail", "The last lines of a log file (default: the "
              "newest; lines clamped to 1-5000; `q`: only lines holding it)", query=LogTailQuery,
              errors=(400, 401, 403, 404, 429)),
)

#: Models the operations refer to that no request model reaches on its own.
EXTRA_MODELS = (admin.PoolEntry,)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _query_parameters(model: type, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per field of `model` (a flat Struct)."""
    properties = schemas[model.__name__]["properties"]
    return [{"name": name, "in": "query", "required": False,
             "schema": _not_null(schema)} for name, schema in properties.items()]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is text or absent, never null."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    plain = dict(options[0]) if len(options) == 1 else {"anyOf": options}
    plain.pop("default", None)
    return plain


def _operation(op: Operation, bodies: dict[Any, dict[str, Any]],
               schemas: dict[str, Any]) -> dict[str, Any]:
    anthropic = op.path.startswith("/v1/messages")
    error = _json(_ref("AnthropicError" if anthropic else "Error"))
    sse = {"text/event-stream": {"schema": _ref("ServerSentEvent")}}
    if op.stream and op.path.startswith(ADMIN):
        ok = sse  # the progress stream answers nothing else
    elif op.content is not None:
        ok = op.content
    else:
        ok = {**_json(_ref(op.answer)), **(sse if op.stream else {})}
    responses: dict[str, Any] = {"200": {"description": op.summary, "content": ok}}
    if op.content is not None and 416 in op.errors:  # a file served with Range and ETag
        responses["206"] = {"description": "The byte range asked for", "content": ok}
        responses["304"] = {"description": "Not modified (If-None-Match)"}
    for status in sorted(set(op.errors) | {405}):
        responses[str(status)] = {"description": ERRORS[status], "content": error}
    responses.update(op.responses)
    spec: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op),
                            "responses": responses}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
                  for name in _path_names(op.path)]
    if op.query is not None:
        parameters += _query_parameters(op.query, schemas)
    parameters += op.extra.get("parameters", [])
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {"required": op.body_required, "content": _json(bodies[op.body])}
    elif op.form is not None:
        spec["requestBody"] = {"required": True,
                               "content": {"multipart/form-data": {"schema": op.form}}}
    if op.security is not None:
        spec["security"] = op.security
    elif op.path.startswith(ADMIN):
        spec["security"] = [{"adminBearer": []}, {"adminQuery": []}]
    elif op.path.startswith(WEBUI):  # open while app.webui_key is empty and the WebUI is on
        spec["security"] = [{"webuiBearer": []}, {"adminSession": []}, {}]
    elif op.public:
        spec["security"] = []
    return spec


def _operation_id(op: Operation) -> str:
    words = op.path.replace("{", "").replace("}", "").strip("/").replace("/", "_")
    return f"{op.method}_{words}"


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@cache
def document(version: str) -> dict[str, Any]:
    """The whole OpenAPI document (`version`: the gateway's)."""
    models = list(dict.fromkeys(op.body for op in OPERATIONS if op.body is not None))
    queries = [op.query for op in OPERATIONS if op.query is not None]
    refs, schemas = msgspec.json.schema_components(
        [*models, *queries, *EXTRA_MODELS], ref_template=REF)
    bodies = dict(zip(models, refs))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, bodies, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "grok2api", "version": version,
                 "description": "OpenAI- and Anthropic-compatible API in front of a pool of "
                                "grok.com web accounts, and its admin API. Unknown request "
                                "fields are ignored."},
        "paths": paths,
        "components": {
            "schemas": {**schemas, **ANSWERS},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "adminBearer": {"type": "http", "scheme": "bearer",
                                "description": "the admin key, app.app_key"},
                "adminQuery": {"type": "apiKey", "in": "query", "name": "app_key"},
                "metricsBearer": {"type": "http", "scheme": "bearer",
                                  "description": "metrics.token, when it is set"},
                "webuiBearer": {"type": "http", "scheme": "bearer",
                                "description": "the WebUI key, app.webui_key"},
                "adminSession": {"type": "apiKey", "in": "cookie", "name": "grok2api_admin",
                                 "description": "an admin page session (POST: with its "
                                                "X-CSRF-Token)"},
            },
        },
        # /v1 is open when app.api_key is empty
        "security": [{"bearer": []}, {"apiKey": []}, {}],
    }


@bp.get("/openapi.json")
async def openapi_json() -> Response:
    from quart_app.routes_misc import app_version

    return Response(orjson.dumps(document(app_version())), content_type="application/json")
