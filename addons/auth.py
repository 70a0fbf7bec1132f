"""API-key authentication for /v1: `Authorization: Bearer` or `x-api-key`.

A request is let in with a key of `app.api_key` (unlimited, compared in constant time) or
with an enabled, unexpired managed client key (`state.keys`, found by the SHA-256 of what the
client sent: a dict look-up that compares digests, never the key). With neither kind of key
configured the gateway is open. `flow.client` says who the request comes from, for the keys
addon, usage, audit and metrics: the managed key's id and name, else `app` or `open`.
"""
from __future__ import annotations

import hmac
from typing import Any

from addons.errors import ApiError
from addons.flow import ClientKey, Flow
from state.options import Loader

#: Who a request is when it carries a key of `app.api_key`, or when the gateway is open.
APP_CLIENT = ClientKey(None, "app")
OPEN_CLIENT = ClientKey(None, "open")


def client_key(headers: Any) -> str | None:
    """The credential a client sent: `Authorization: Bearer` wins over `x-api-key`."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def key_matches(candidate: str, allowed: list[str]) -> bool:
    """Constant-time comparison against every allowed key (no early exit on a match)."""
    found = False
    encoded = candidate.encode()
    for key in allowed:
        found |= hmac.compare_digest(encoded, key.encode())
    return found


def invalid_key(message: str = "Invalid API key", code: str = "invalid_api_key") -> ApiError:
    return ApiError(401, message, type="authentication_error", code=code)


class Auth:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("app.api_key", list[str], [],
                          "API key(s) for /v1/*: an array, or a comma-separated string; "
                          "unlimited. With none, and no managed client key (`grok2api keys`, "
                          "/admin/api/keys), the gateway is open.")

    def __init__(self, settings: Any, keys: Any | None = None) -> None:
        self.settings = settings
        #: the managed client keys (`state.keys_service.KeyService`), when the app has them
        self.keys = keys

    def requestheaders(self, flow: Flow) -> None:
        """Runs before the body is parsed, so a stranger learns nothing about the body rules.
        A flow whose route already knows its client (the web chat's API checks its own key,
        `quart_app.web.webui_auth`) is let in as that client: no client header can set it."""
        if flow.client is not None:
            return
        allowed = self.settings.options.app.api_key
        keys = self.keys
        managed = keys is not None and keys.has_keys
        if not allowed and not managed:
            flow.client = OPEN_CLIENT
            return
        key = client_key(flow.client_headers)
        if key is None:
            raise ApiError(401, "Missing API key", type="authentication_error", code="missing_api_key")
        if allowed and key_matches(key, allowed):
            flow.api_key = key
            flow.client = APP_CLIENT
            return
        record = keys.find(key) if managed else None
        if record is None:
            raise invalid_key()
        if not record.enabled:
            raise invalid_key("This API key is disabled")
        if record.expired():
            raise invalid_key("This API key has expired", "expired_api_key")
        flow.api_key = key
        flow.client = ClientKey(record.id, record.name)
