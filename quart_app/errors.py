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
from quart_app.request_log import current as current_request

log = logging.getLogger(__name__)

JSON = (b"content-type", b"application/json")


def anthropic_path(path: str) -> bool:
    """Anthropic's SDKs parse `{"type":"error","error":{…}}`; every other route answers in
    OpenAI's `{"error":{…}}`. The only place that decides a route's dialect."""
    return path.startswith("/v1/messages")


def request_id() -> str | None:
    """The id of the request being served (`X-Request-Id`), None outside one."""
    info = current_request()
    return None if info is None else info.id


def error_payload(err: ApiError, *, anthropic: bool = False) -> dict:
    """The envelope of `err`, with the request's id beside `error` (Anthropic's API puts a
    top-level `request_id` there; OpenAI's SDKs ignore unknown top-level fields), so a
    client that kept a failed body can name the request in a report."""
    payload: dict = {"type": "error", "error": err.to_dict()} if anthropic else {
        "error": err.to_dict()}
    rid = request_id()
    if rid is not None:
        payload["request_id"] = rid
    return payload


def request_id_field() -> dict[str, str]:
    """`{"request_id": …}` for an event that carries the error's fields flat (Responses)."""
    rid = request_id()
    return {} if rid is None else {"request_id": rid}


def error_body(err: ApiError, path: str) -> bytes:
    return orjson.dumps(error_payload(err, anthropic=anthropic_path(path)))


def error_headers(err: ApiError) -> list[tuple[bytes, bytes]]:
    """The headers an error needs beyond its body (a 405 says which methods would do; an
    error that knows when to come back says `Retry-After`)."""
    headers = [JSON]
    if isinstance(err, MethodNotAllowed):
        headers.append((b"allow", ", ".join(err.allowed).encode("latin-1")))
    retry_after = err.retry_after_header
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode("latin-1")))
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
