"""Request-parsing rules the dialects share: stream default, reasoning effort, roles, tools."""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from quart_app.dialects.validate import opt_bool
from state.options import Loader

EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def load(loader: Loader) -> None:
    """The defaults every dialect applies to a request that leaves them out."""
    loader.add_option("features.stream", bool, False,
                      "Default for a request without `stream`: false returns JSON, as the "
                      "official SDKs expect.")
    loader.add_option("features.thinking", bool, True,
                      "Default reasoning output for a request that does not ask for or against it.")


def stream_flag(body: dict, settings: Any) -> bool:
    """`stream`, defaulting to the `features.stream` setting."""
    stream = opt_bool(body, "stream")
    if stream is None:
        stream = settings.options.features.stream
    return stream


def parallel_flag(body: dict) -> bool:
    """`parallel_tool_calls`, true unless the body says false."""
    parallel = opt_bool(body, "parallel_tool_calls")
    return True if parallel is None else parallel


def check_effort(effort: Any, param: str) -> None:
    """A reasoning effort is absent or one of EFFORTS."""
    if effort is not None and effort not in EFFORTS:
        raise validation(f"{param} must be one of {', '.join(sorted(EFFORTS))}", param)


def check_role(role: Any, roles: frozenset[str], param: str) -> None:
    """`<param>.role` is one of `roles`."""
    if role not in roles:
        raise validation(f"role must be one of {', '.join(sorted(roles))}, got {role!r}",
                         f"{param}.role")


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


def tool_items(raw: Any) -> list:
    """The `tools` array, or [] when absent."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation("'tools' must be an array", "tools")
    return raw
