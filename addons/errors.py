"""Dialect-neutral API errors. quart_app renders them in each dialect's envelope."""
from __future__ import annotations


class ApiError(Exception):
    """An error with a client-visible status, type, code and optional param (api-surface §11)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or default_type(status)
        self.code = code
        self.param = param

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


def no_account(model: str) -> ApiError:
    return ApiError(
        429,
        f"No available accounts for this model tier ({model})",
        type="rate_limit_error",
        code="rate_limit_exceeded",
    )
