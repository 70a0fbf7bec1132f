"""The one per-request object of the HTTP layer, reachable from the chain.

`quart_app.request_log.RequestLog` makes a `RequestInfo` for every HTTP request and keeps it
in a context variable while the request is served; the addons read it with `current()` (the
audit recorder hands it the request's record, completed once the response ended). It lives
here, below the HTTP layer, because addons may not import `quart_app`. Outside a request
(a video job running in the background, a unit test) `current()` is None.
"""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestInfo", "current", "scope_var"]

scope_var: ContextVar["RequestInfo | None"] = ContextVar("grok2api_request", default=None)


@dataclass(slots=True)
class RequestInfo:
    id: str
    method: str
    path: str
    started: float  # time.perf_counter()
    #: The response's status once it started; None while nothing was sent.
    status: int | None = None
    #: True once the last body byte went out (False: the client left or the server failed).
    complete: bool = False
    #: A name for the client's key, for whoever knows one (an auth layer with named keys);
    #: without it the access log shows a fingerprint of the credential.
    key_name: str | None = None
    #: The request body's size (set by the HTTP policy layer once it read it).
    bytes_in: int = 0
    #: Response body bytes handed to the server so far.
    bytes_out: int = 0
    #: True once the HTTP layer is done with the request (the response ended or failed).
    ended: bool = False
    #: Called once with this object when the request ends (the audit recorder's hand-off).
    on_end: Callable[["RequestInfo"], None] | None = None


def current() -> RequestInfo | None:
    """The request being served in this task, if any."""
    return scope_var.get()
