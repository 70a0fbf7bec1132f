"""Fault names and the `[[sim …]]` directive language carried inside chat messages."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, fields

from ops.simulator.content import CITATION_RENDER, DEFAULT_TOKENS, SPLIT_TAG_TOKENS, UTF8_TEXT, answer_tokens, chunk_text
from ops.simulator.errors import HTTP_FAULT_REPLIES

#: Faults that change the 200 stream (HTTP-level ones live in errors.HTTP_FAULT_REPLIES).
STREAM_FAULTS: frozenset[str] = frozenset(
    {
        "inband_first",
        "inband_antibot_first",
        "inband_mid",
        "usage_limit",
        "stream_errors",
        "cut_mid",
        "truncated",
        "ended_mid",
        "stall",
        "slow_first_byte",
        "empty",
    }
)
HTTP_FAULTS: frozenset[str] = frozenset(HTTP_FAULT_REPLIES)
#: Faults of the multipart upload: a 200 whose `terminalError` rejects the file.
UPLOAD_FAULTS: frozenset[str] = frozenset({"upload_terminal_error"})
#: Faults of the gRPC-web account endpoints: HTTP 200 whose trailer carries a non-zero
#: grpc-status (7 permission denied / blocked user, 16 unauthenticated), both with a marker.
GRPC_FAULTS: frozenset[str] = frozenset({"grpc_7", "grpc_16"})
#: Faults of the console (ops/simulator/console.py, console-and-voice §6.3).
CONSOLE_FAULTS: frozenset[str] = frozenset({
    "console_expired", "console_blocked", "console_anti_bot", "console_forbidden",
    "console_no_access", "console_dpop_required", "console_team_rate_limit",
    "console_rate_limit", "console_quota", "console_server_error", "console_safety",
    "console_bad_cookie", "console_credential_words", "console_stream_error"})
ALL_FAULTS: frozenset[str] = (HTTP_FAULTS | STREAM_FAULTS | UPLOAD_FAULTS | GRPC_FAULTS
                              | CONSOLE_FAULTS)
#: Faults after which the real service would not have charged the query.
NO_QUOTA_FAULTS: frozenset[str] = HTTP_FAULTS | {"inband_first", "inband_antibot_first", "usage_limit"}

_DIRECTIVE_RE = re.compile(r"\[\[sim((?:\s+[A-Za-z_][A-Za-z0-9_]*=[^\s\]]*)*)\s*\]\]")


@dataclass(slots=True)
class Directives:
    """Parsed ``[[sim key=value …]]`` block; every field is one directive key.

    tokens=N answer `answer_tokens(N)`; say=<base64url UTF-8> exact answer, cut in
    chunk=K character tokens; think=0|1 and think_tokens=N control reasoning frames;
    delay_ms / first_byte_ms timing; search=1, split_tag=1, utf8=1, order=late shapes;
    fault=<name> any fault of ALL_FAULTS; stall_ms for fault=stall. (An injected fault may
    also carry `after_tokens`: the answer tokens sent before a mid-answer fault strikes.)
    """

    tokens: int | None = None
    say: str | None = None
    chunk: int = 3
    think: bool | None = None
    think_tokens: int = 3
    delay_ms: int = 0
    first_byte_ms: int = 0
    search: bool = False
    split_tag: bool = False
    utf8: bool = False
    order: str = "normal"
    fault: str | None = None
    stall_ms: int | None = None


_INT_KEYS = {"tokens", "chunk", "think_tokens", "delay_ms", "first_byte_ms", "stall_ms"}
_BOOL_KEYS = {"think", "search", "split_tag", "utf8"}
_KNOWN = {f.name for f in fields(Directives)}


def parse_directives(message: str) -> Directives:
    """Directives of the last ``[[sim …]]`` block in `message`; defaults if none.

    Malformed values are ignored (the default stays) so a typo never breaks a stream.
    """
    d = Directives()
    if "[[sim" not in message:
        return d
    blocks = _DIRECTIVE_RE.findall(message)
    if not blocks:
        return d
    for pair in blocks[-1].split():
        key, _, value = pair.partition("=")
        if key not in _KNOWN:
            continue
        if key in _INT_KEYS:
            try:
                setattr(d, key, max(0, int(value)))
            except ValueError:
                pass
        elif key in _BOOL_KEYS:
            setattr(d, key, value.lower() in ("1", "true", "yes", "on"))
        elif key == "say":
            try:
                d.say = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                pass
        elif key == "order":
            d.order = value
        elif key == "fault" and value in ALL_FAULTS:
            d.fault = value
    return d


def plan_answer(d: Directives) -> list[str]:
    """Answer tokens for the directives (precedence: say, split_tag, utf8, tokens, default)."""
    if d.say is not None:
        tokens = chunk_text(d.say, d.chunk)
    elif d.split_tag:
        tokens = list(SPLIT_TAG_TOKENS)
    elif d.utf8:
        tokens = chunk_text(UTF8_TEXT, d.chunk)
    elif d.tokens is not None:
        tokens = answer_tokens(d.tokens)
    else:
        tokens = list(DEFAULT_TOKENS)
    if d.search:
        tokens.append(CITATION_RENDER)
    return tokens


def expected_text(message: str) -> str:
    """The raw answer (`modelResponse.message`) the simulator produces for `message`."""
    return "".join(plan_answer(parse_directives(message)))


def media_directives(message: str) -> dict[str, str]:
    """The raw ``key=value`` pairs of the last ``[[sim …]]`` block, for the media endpoints,
    whose keys (``moderated=0,2``, ``rrated=1``, ``error=…``, ``close=1``, ``delay_ms=…``,
    ``progress_frames=N``, ``video_kb=N``) the chat's `Directives` does not know."""
    if "[[sim" not in message:
        return {}
    blocks = _DIRECTIVE_RE.findall(message)
    if not blocks:
        return {}
    pairs = (pair.partition("=") for pair in blocks[-1].split())
    return {key: value for key, _, value in pairs}


def slot_set(value: str | None, count: int) -> frozenset[int]:
    """Slot indexes from a directive value: ``all``, or a comma list like ``0,2``."""
    if not value:
        return frozenset()
    if value == "all":
        return frozenset(range(count))
    return frozenset(int(v) for v in value.split(",") if v.strip().isdigit())


def int_directive(values: dict[str, str], key: str, default: int) -> int:
    """A non-negative integer directive; a malformed one keeps the default."""
    try:
        return max(0, int(values[key]))
    except (KeyError, ValueError):
        return default
