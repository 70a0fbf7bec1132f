"""Dialect-neutral API errors. quart_app renders them in each dialect's envelope.

An upstream failure reaches the client as a short message built from its status and its kind
(`addons.upstream.classify`), never as grok.com's or Cloudflare's page or a transport
library's text: those go to the log, redacted, where the retry and breaker addons write them.
"""
from __future__ import annotations

import math

from addons.events import UPSTREAM_TRUNCATED, UpstreamFailure
from addons.upstream import classify as kinds


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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or default_type(status)
        self.code = code
        self.param = param
        #: Seconds the client should wait before trying again (the `Retry-After` header).
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str | None:
        """`Retry-After` in whole seconds (at least 1), or None."""
        if self.retry_after is None:
            return None
        return str(max(1, math.ceil(self.retry_after)))

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


#: What a client is told about each kind of upstream failure.
_FAILURE_TEXT: dict[str, str] = {
    kinds.RATE_LIMITED: "grok.com's rate limit was reached on every account tried",
    kinds.CREDENTIALS: "grok.com refused the account's credentials",
    kinds.UNAUTHORIZED: "grok.com refused the account",
    kinds.CHALLENGE: "grok.com's edge (Cloudflare) challenged the gateway's traffic",
    kinds.ANTI_BOT: "grok.com's anti-bot rules refused the gateway's request",
    kinds.FORBIDDEN: "grok.com refused the request",
    kinds.REJECTED: "grok.com rejected the request",
    kinds.SERVER_ERROR: "grok.com failed to answer",
    kinds.CONNECTION: "The connection to grok.com failed or was cut",
    kinds.TIMEOUT: "grok.com stopped answering in time",
    kinds.STALE: "grok.com answered with a stale result (an image it made for another prompt)",
}


def upstream_error(status: int, kind: str | None = None, *, answered: bool = True) -> ApiError:
    """The client-facing error for an upstream failure that ends a request: what went wrong
    (`kind`, guessed from `status` when not known) and grok.com's status when it `answered`
    one, never anything grok.com wrote."""
    kind = kind or (kinds.RATE_LIMITED if status == 429 else kinds.TIMEOUT if status == 504
                    else kinds.FORBIDDEN if status == 403 else kinds.SERVER_ERROR)
    if kind == kinds.EMPTY:
        return empty_response()
    text = _FAILURE_TEXT.get(kind, _FAILURE_TEXT[kinds.SERVER_ERROR])
    message = f"{text} (upstream {status}, {kind})" if answered else f"{text} ({kind})"
    if kind == kinds.RATE_LIMITED:
        return ApiError(429, message, type="rate_limit_error", code="rate_limit_exceeded")
    if kind == kinds.TIMEOUT:
        return ApiError(504, message, type="upstream_error", code="stream_idle_timeout")
    refused = status == 403 and kind in (kinds.CHALLENGE, kinds.ANTI_BOT, kinds.FORBIDDEN)
    return ApiError(403 if refused else 502, message, type="upstream_error",
                    code="upstream_error")


def failure_error(failure: UpstreamFailure) -> ApiError:
    """`upstream_error` for a failed try, classified from everything it carries. A try whose
    transport gave up (a timeout, a broken connection) got no status from grok.com."""
    if failure.code == UPSTREAM_TRUNCATED:  # the gateway's finding, not a status grok.com sent
        return ApiError(502, "grok.com's answer stopped before its end (truncated)",
                        type="upstream_error", code=UPSTREAM_TRUNCATED)
    answered = failure.code not in (kinds.TRANSPORT_CODE, kinds.TIMEOUT_CODE)
    return upstream_error(failure.status, kinds.failure_kind(failure), answered=answered)


#: Codes of the breaker's refusals, by what it saw fail.
BREAKER_CODES = {"unavailable": "upstream_unavailable", "challenge": "upstream_challenge",
                 "throttled": "upstream_throttled"}


def breaker_open(status: int, reason: str, retry_after: float) -> ApiError:
    """The answer while the upstream circuit breaker holds requests back: the class of error
    grok.com has been giving (5xx, or 429 for a throttle of the gateway's egress), at once,
    with `Retry-After`."""
    wait = max(1, math.ceil(retry_after))
    if status == 429:
        message = (f"grok.com is throttling the gateway on many accounts at once (upstream 429, "
                   f"{reason}); retry in {wait} s")
        return ApiError(429, message, type="rate_limit_error", code=BREAKER_CODES[reason],
                        retry_after=retry_after)
    message = (f"grok.com is failing for every account (upstream {status}, {reason}); the "
               f"gateway holds requests back, retry in {wait} s")
    return ApiError(status, message, type="upstream_error",
                    code=BREAKER_CODES.get(reason, "upstream_unavailable"),
                    retry_after=retry_after)
