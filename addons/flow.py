"""The Flow: one per client request, carried through every addon hook.

Addons keep private per-flow state in `flow.metadata[<addon name>]`, never on themselves:
one addon instance serves every concurrent request.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover - typing only
    from addons.services.catalogue import ModelSpec
    from addons.errors import ApiError
    from addons.events import UpstreamFailure
    from addons.upstream.transport import UpstreamStream
    from state.pool import Lease


@dataclass(slots=True)
class Attachment:
    """A file the client sent (image, audio, document): a data URI or a URL, uploaded per account."""

    kind: str  # image | audio | file
    url: str
    name: str | None = None


@dataclass(slots=True)
class Message:
    """One neutral chat message. `parts` are its text blocks in order."""

    role: str  # system | developer | user | assistant | tool
    parts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass(slots=True)
class ToolSpec:
    """A client-declared function the model may call (never executed by the gateway)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatRequest:
    """The dialect-neutral request a dialect parser produces.

    `messages[*].tool_calls` hold earlier calls as {"id", "name", "arguments" (JSON text)};
    a `tool` message answers one by `tool_call_id`. `tool_choice` is auto | none | required,
    and `forced_tool` names the one function a client forces.

    `store` keeps the upstream conversation (not temporary) so that a later request can
    continue it by `previous_response_id` (the Responses API; other dialects never store)."""

    model: str
    messages: list[Message]
    stream: bool = False
    reasoning: bool = True
    include_usage: bool = False
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    store: bool = False
    previous_response_id: str | None = None
    #: stop sequences: the answer ends right before the first match (addons/stop_sequences.py)
    stop: list[str] = field(default_factory=list)


@dataclass(slots=True)
class UpstreamRequest:
    """What the upstream client sends: built per attempt by the upstream-request addon."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    #: a raw body (e.g. multipart) sent as is instead of `json`; set Content-Type in `headers`
    body: bytes | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def new_id(prefix: str, hex_len: int = 8) -> str:
    """`<prefix><ms><hex>` as api-surface GEN-8 describes."""
    return f"{prefix}{int(time.time() * 1000)}{os.urandom(hex_len // 2 + 1).hex()[:hex_len]}"


@dataclass(slots=True)
class Flow:
    request: ChatRequest
    client_headers: Mapping[str, str] = field(default_factory=dict)
    dialect: str = "openai.chat"
    id: str = field(default_factory=lambda: new_id("chatcmpl-"))
    created: int = field(default_factory=lambda: int(time.time()))
    # resolved by the request hooks
    api_key: str | None = None
    model: ModelSpec | None = None
    mode: str | None = None
    prompt: str = ""
    # per attempt
    attempt: int = 0
    tried: list[str] = field(default_factory=list)
    lease: Lease | None = None
    upstream: UpstreamRequest | None = None
    stream: UpstreamStream | None = None
    status: int | None = None
    failure: UpstreamFailure | None = None
    retry: bool = False
    # outcome
    committed: bool = False
    reply: Any = None
    error: ApiError | None = None
    finish_reason: str = "stop"
    stop_sequence: str | None = None  # the stop sequence that ended the answer, if one did
    usage: Usage = field(default_factory=Usage)
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
