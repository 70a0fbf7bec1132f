"""Request-parsing rules the dialects share: stream default, reasoning effort, roles, tools."""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from quart_app.dialects.validate import opt_bool

EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def stream_flag(body: dict, settings: Any) -> bool:
    """`stream`, defaulting to the `features.stream` setting."""
    stream = opt_bool(body, "stream")
    if stream is None:
        stream = settings.bool("features.stream")
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


def tool_items(raw: Any) -> list:
    """The `tools` array, or [] when absent."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation("'tools' must be an array", "tools")
    return raw
