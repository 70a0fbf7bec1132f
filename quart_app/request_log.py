"""Who a log line is about: every request gets an id, returned in `X-Request-Id` and put on
each log line written while the request is served, and one access-log line once it ends.

The per-request state is a `RequestInfo` in a context variable. Hypercorn serves each request
in a task of its own and tasks copy the context they start in, so everything the request
starts (Quart's handler task, the fast path's disconnect watcher, a background refresh it
triggers) logs with its id, and nothing leaks into the next request.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from functools import lru_cache
from typing import Any, Awaitable, Callable

from addons.request_scope import RequestInfo, current, scope_var  # noqa: F401 - re-exported

access_log = logging.getLogger("grok2api.access")

HEADER = b"x-request-id"
MAX_ID_LEN = 128
_current = scope_var


def new_id() -> str:
    return os.urandom(8).hex()


def accept_id(raw: bytes | None) -> str:
    """The client's own id when it is sane (printable ASCII without spaces, at most
    `MAX_ID_LEN` long), so a caller can follow its request through our logs; otherwise a new
    one. Anything else could forge or break log lines and response headers."""
    if raw and len(raw) <= MAX_ID_LEN and all(0x21 <= c <= 0x7E for c in raw):
        return raw.decode("ascii")
    return new_id()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` ("-" outside a request) to every record a handler emits; installed
    on the handler so that records from every logger, ours and libraries', get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = _current.get()
        record.request_id = info.id if info is not None else "-"
        return True


@lru_cache(maxsize=256)
def _fingerprint(credential: bytes) -> str:
    return "fp:" + hashlib.sha256(credential).hexdigest()[:8]


def key_label(headers: list[tuple[bytes, bytes]]) -> str:
    """A label for the credential a request carried that tells keys apart without revealing
    one: "-" when it sent none, else `fp:` and the first 8 hex digits of the key's SHA-256
    (`printf %s "$KEY" | sha256sum` finds which). Bearer wins over x-api-key, as in auth."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and rest.strip():
                bearer = rest.strip()
        elif name == b"x-api-key" and value.strip():
            api_key = value.strip()
    credential = bearer or api_key
    return "-" if credential is None else _fingerprint(credential)


def _printable(text: str) -> str:
    """A path fit for one log line (a decoded path may hold control characters)."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class RequestLog:
    """ASGI layer: the request id (context, response header) and the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                raw_id = value
                break
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        info = RequestInfo(accept_id(raw_id), scope["method"], path, time.perf_counter())
        id_header = (HEADER, info.id.encode("ascii"))

        # A plain function that returns `send`'s awaitable: no extra coroutine per message,
        # which matters for streams of many small chunks.
        def send_with_id(message: dict) -> Awaitable[None]:
            kind = message["type"]
            if kind == "http.response.body":
                info.bytes_out += len(message.get("body", b""))
                if not message.get("more_body", False):
                    info.complete = True
            elif kind == "http.response.start":
                info.status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            return send(message)

        token = _current.set(info)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            info.ended = True
            if info.on_end is not None:
                try:
                    info.on_end(info)
                except Exception:  # noqa: BLE001 - accounting must never break a response
                    access_log.exception("request accounting failed")
            if access_log.isEnabledFor(logging.INFO):
                self._log(info, scope)
            _current.reset(token)

    @staticmethod
    def _log(info: RequestInfo, scope: dict[str, Any]) -> None:
        """One line per request once its response ended (a stream: once it closed). The query
        string is left out: the admin key may travel there."""
        duration = (time.perf_counter() - info.started) * 1000
        status = "-" if info.status is None else str(info.status)
        note = "" if info.complete else " (response not completed)"
        key = info.key_name or key_label(scope["headers"])
        path = _printable(info.path)
        access_log.info("%s %s %s %.1fms key=%s%s", info.method, path, status, duration, key,
                        note, extra={"http_method": info.method, "http_path": path,
                                     "http_status": info.status, "duration_ms": duration,
                                     "key": key})
