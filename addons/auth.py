"""API-key authentication for /v1: `Authorization: Bearer` or `x-api-key`; open when no key is set."""
from __future__ import annotations

import hmac
from typing import Any

from addons.errors import ApiError
from addons.flow import Flow
from state.options import Loader

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


class Auth:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("app.api_key", list[str], [],
                          "API key(s) for /v1/*: an array, or a comma-separated string; "
                          "empty = open mode.")

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def requestheaders(self, flow: Flow) -> None:
        """Runs before the body is parsed, so a stranger learns nothing about the body rules."""
        allowed = self.settings.options.app.api_key
        if not allowed:
            return  # open mode
        key = client_key(flow.client_headers)
        if key is None:
            raise ApiError(401, "Missing API key", type="authentication_error", code="missing_api_key")
        if not key_matches(key, allowed):
            raise ApiError(401, "Invalid API key", type="authentication_error", code="invalid_api_key")
        flow.api_key = key
