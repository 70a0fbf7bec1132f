"""Error envelopes: what an `ApiError` looks like on the wire in each dialect, the errors the
HTTP layer itself raises (body too large, wrong method, crash), and Quart's error handlers.

The ASGI layers (`quart_app.http_policy`) and Quart's handlers both render through
`error_body`, so a route answers in the same envelope whichever side serves it."""
from __future__ import annotations

import logging
from collections.abc import Iterable

import orjson
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed as WerkzeugMethodNotAllowed

from addons.errors import ApiError

log = logging.getLogger(__name__)

JSON = (b"content-type", b"application/json")


def anthropic_path(path: str) -> bool:
    """Anthropic's SDKs parse `{"type":"error","error":{…}}`; every other route answers in
    OpenAI's `{"error":{…}}`. The only place that decides a route's dialect."""
    return path.startswith("/v1/messages")


def error_body(err: ApiError, path: str) -> bytes:
    payload: dict = {"error": err.to_dict()}
    if anthropic_path(path):
        payload = {"type": "error", **payload}
    return orjson.dumps(payload)


def error_headers(err: ApiError) -> list[tuple[bytes, bytes]]:
    """The headers an error needs beyond its body (a 405 says which methods would do, a 429
    when to come back)."""
    headers = [JSON]
    if isinstance(err, MethodNotAllowed):
        headers.append((b"allow", ", ".join(err.allowed).encode("latin-1")))
    if err.retry_after is not None:
        headers.append((b"retry-after", b"%d" % max(0, err.retry_after)))
    return headers


class MethodNotAllowed(ApiError):
    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        self.allowed = sorted(set(allowed))
        super().__init__(405, f"Method {method} is not allowed here; use "
                              f"{' or '.join(m for m in self.allowed if m != 'OPTIONS')}",
                         type="validation_error", code="method_not_allowed")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body is larger than the limit ({limit >> 20} MiB, "
                         f"app.max_body_mb)", type="validation_error", code="request_too_large")


def body_timeout() -> ApiError:
    return ApiError(408, "The request body did not arrive in time", type="validation_error",
                    code="request_timeout")


def internal_error() -> ApiError:
    """Details of a crash go to the log, never to the client."""
    return ApiError(500, "Internal server error", type="server_error", code="internal_error")


def error_response(err: ApiError) -> Response:
    """The Quart response for `err` on the current request's route."""
    return Response(error_body(err, request.path), status=err.status,
                    headers=[(k.decode(), v.decode()) for k, v in error_headers(err)])


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(err: ApiError) -> Response:
        return error_response(err)

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Response:
        if isinstance(exc, WerkzeugMethodNotAllowed):
            return error_response(MethodNotAllowed(request.method, exc.valid_methods or ()))
        code = "not_found" if exc.code == 404 else "invalid_request"
        return error_response(ApiError(exc.code or 400, exc.description or exc.name,
                                       type="validation_error", code=code))

    @app.errorhandler(Exception)
    async def _unhandled(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(internal_error())
