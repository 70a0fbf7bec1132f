"""Request-parsing rules the dialects share: the stream and reasoning defaults, stop
sequences."""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from state.options import Loader


def load(loader: Loader) -> None:
    """The defaults every dialect applies to a request that leaves them out."""
    loader.add_option("features.stream", bool, False,
                      "Default for a request without `stream`: false returns JSON, as the "
                      "official SDKs expect.")
    loader.add_option("features.thinking", bool, True,
                      "Default reasoning output for a request that does not ask for or against it.")


def stream_flag(stream: bool | None, settings: Any) -> bool:
    """`stream`, defaulting to the `features.stream` setting."""
    return settings.options.features.stream if stream is None else stream


def thinking_default(settings: Any) -> bool:
    return settings.options.features.thinking


MAX_STOP_SEQUENCES = 64
MAX_STOP_LENGTH = 512  # characters; each streamed piece is checked against every sequence


def stop_list(body: dict, key: str, *, allow_string: bool, most: int = MAX_STOP_SEQUENCES) -> list[str]:
    """Stop sequences: absent/null → []; an array of non-empty strings (a lone string too when
    `allow_string`, as OpenAI's `stop` takes), at most `most` of them of at most
    MAX_STOP_LENGTH characters, duplicates dropped."""
    raw = body.get(key)
    if raw is None:
        return []
    if allow_string and isinstance(raw, str):
        raw = [raw]
    kinds = "a string or an array of strings" if allow_string else "an array of strings"
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise validation(f"'{key}' must be {kinds}, each non-empty", key)
    if len(raw) > most:
        raise validation(f"'{key}' takes at most {most} sequences, got {len(raw)}", key)
    if any(len(s) > MAX_STOP_LENGTH for s in raw):
        raise validation(f"'{key}' entries are at most {MAX_STOP_LENGTH} characters long", key)
    return list(dict.fromkeys(raw))
