"""The typed body of `POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic's
Messages API).

Content blocks are told apart by `type`; an unknown block type is refused (the parser states
that as Anthropic's `invalid_request_error`).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from quart_app.dialects.schema import Effort, JsonObject, NonEmptyStr, Text, integer, number

Role = Literal["user", "assistant", "system"]


class MediaSource(Struct):
    """`base64` (with `media_type`), `url`, or for documents `text`."""

    type: str | None = None
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None


class _Block(Struct, tag_field="type"):
    """A content block, told apart by its `type`."""


class TextBlock(_Block, tag="text"):
    text: str


class ImageBlock(_Block, tag="image"):
    source: MediaSource


class DocumentBlock(_Block, tag="document"):
    source: MediaSource
    title: str | None = None


class ToolUseBlock(_Block, tag="tool_use"):
    id: NonEmptyStr
    name: NonEmptyStr
    input: JsonObject = {}


ResultBlock = TextBlock | ImageBlock | DocumentBlock


class ToolResultBlock(_Block, tag="tool_result"):
    tool_use_id: Any = None  # must answer an earlier tool_use: checked by the parser
    content: str | list[ResultBlock] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Block, tag="thinking"):
    """Earlier reasoning: accepted and dropped (no signature check)."""

    thinking: str | None = None
    signature: str | None = None


class RedactedThinkingBlock(_Block, tag="redacted_thinking"):
    data: str | None = None


Block = (TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock
         | ThinkingBlock | RedactedThinkingBlock)


class AnthropicMessage(Struct):
    role: Role
    content: str | list[Block]


class AnthropicTool(Struct):
    """A custom tool (`type` absent or `custom`: `name` required, checked by the parser) or a
    server tool (web search, bash, …: skipped, the model searches natively)."""

    type: str | None = None
    name: str | None = None
    description: str | None = None
    input_schema: JsonObject | None = None


class AnthropicToolChoice(Struct):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfig(Struct):
    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: integer(0) | None = None  # the console's effort (grok.com has no knob)
    effort: Effort | None = None


class OutputConfig(Struct):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None


class MessagesBody(Struct):
    model: Text
    messages: Annotated[list[AnthropicMessage], Meta(min_length=1)]
    system: str | list[TextBlock] | None = None
    max_tokens: integer(1) | None = None  # accepted and ignored
    stream: bool | None = None
    temperature: number(0, 1) | None = None  # checked, never forwarded (no such knob)
    top_p: number(0, 1) | None = None
    top_k: integer(0) | None = None
    stop_sequences: list[str] | None = None  # counted and measured by `stop_list`
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    metadata: JsonObject | None = None
