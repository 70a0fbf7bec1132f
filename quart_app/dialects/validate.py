"""Small typed readers for request bodies: each failure is a 400 naming the field's path."""
from __future__ import annotations

from typing import Any

from addons.errors import validation


def obj(value: Any, param: str | None = None) -> dict:
    if not isinstance(value, dict):
        raise validation(f"{param or 'Request body'} must be a JSON object", param)
    return value


def opt_bool(body: dict, key: str, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise validation(f"'{param or key}' must be a boolean", param or key)


def opt_number(body: dict, key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise validation(f"'{key}' must be a number", key)
    if not low <= value <= high:
        raise validation(f"'{key}' must be between {low:g} and {high:g}, got {value}", key)
    return float(value)


def req_str(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise validation(f"'{key}' is required and must be a non-empty string", key)
    return value
