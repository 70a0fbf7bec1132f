"""The one Content-Type rule of the JSON routes: a body must be declared as JSON.

`application/json` (what the OpenAI and Anthropic SDKs, Claude Code and Codex send), with or
without parameters such as `charset=utf-8`, and the `application/<name>+json` family. A form
or plain-text body is refused with a 415 before it is parsed, so a client that forgot the
header hears so instead of getting its text read as JSON by accident.
"""
from __future__ import annotations

from collections.abc import Mapping

from addons.errors import ApiError


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                            and media.endswith("+json"))


def require_json(headers: Mapping[str, str]) -> None:
    """A 415 unless `headers` declare a JSON body."""
    declared = headers.get("content-type")
    if not is_json(declared):
        shown = f"got {declared[:80]!r}" if declared else "none was sent"
        raise ApiError(415, f"Content-Type must be application/json ({shown})",
                       type="validation_error", code="unsupported_media_type")
