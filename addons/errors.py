"""Dialect-neutral API errors. quart_app renders them in each dialect's envelope."""
from __future__ import annotations


class ApiError(Exception):
    """An error with a client-visible status, type, code and optional param."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or default_type(status)
        self.code = code
        self.param = param
        #: Seconds for a `Retry-After` header (a 429 that knows when to come back).
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        return {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
            "status": self.status,
        }

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.type}, {self.code}, {self.message!r})"


def default_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status in (400, 404, 409, 413, 422):
        return "validation_error"
    if status in (502, 504) or status == 403:
        return "upstream_error"
    return "server_error"


def validation(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, type="validation_error", code=code, param=param)


def no_account(model: str, retry_after: int | None = None) -> ApiError:
    return ApiError(
        429,
        f"No available accounts for this model tier ({model})",
        type="rate_limit_error",
        code="rate_limit_exceeded",
        retry_after=retry_after,
    )


#: Upstream answered 200 but with nothing a client could use (fails over like an error).
EMPTY_ANSWER = "Upstream ended the answer without any output"


def empty_response() -> ApiError:
    return ApiError(502, EMPTY_ANSWER, type="upstream_error", code="empty_response")


def upstream_error(status: int, message: str = "") -> ApiError:
    """The client-facing error for an upstream failure that ends a request."""
    if status == 429:
        return ApiError(429, "Upstream rate limit reached on every available account",
                        type="rate_limit_error", code="rate_limit_exceeded")
    if status == 504:
        return ApiError(504, message or "Upstream stream timed out", type="upstream_error",
                        code="stream_idle_timeout")
    if status == 403:
        return ApiError(403, message or "Upstream rejected the request (anti-bot or Cloudflare)",
                        type="upstream_error", code="upstream_error")
    detail = f": {message}" if message else ""
    return ApiError(502, f"Upstream error (status {status}){detail}", type="upstream_error",
                    code="upstream_error")
