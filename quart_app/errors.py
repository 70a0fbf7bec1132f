"""Error envelopes (api-surface §11) and the app-wide error handlers."""
from __future__ import annotations

import logging

import orjson
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from addons.errors import ApiError

log = logging.getLogger(__name__)


def anthropic_route() -> bool:
    return request.path.startswith("/v1/messages")


def error_body(err: ApiError, anthropic: bool = False) -> bytes:
    payload: dict = {"error": err.to_dict()}
    if anthropic:
        payload = {"type": "error", **payload}
    return orjson.dumps(payload)


def error_response(err: ApiError) -> Response:
    return Response(
        error_body(err, anthropic_route()), status=err.status, content_type="application/json"
    )


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(err: ApiError) -> Response:
        return error_response(err)

    @app.errorhandler(RequestEntityTooLarge)
    async def _too_large(_: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(ApiError(
            413, f"Request body is larger than the limit ({limit // (1 << 20)} MiB, app.max_body_mb)",
            type="validation_error", code="request_too_large"))

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Response:
        code = "not_found" if exc.code == 404 else "invalid_request"
        return error_response(ApiError(exc.code or 400, exc.description or exc.name,
                                       type="validation_error", code=code))

    @app.errorhandler(Exception)
    async def _unhandled(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError(500, "Internal server error", type="server_error",
                                       code="internal_error"))
