"""The typed body of `POST /v1/chat/completions` (OpenAI's chat completions).

Declares every field the gateway reads, and the usual ignored numbers (`max_tokens`, `n`,
`seed`, …) so a nonsense value is refused as OpenAI refuses it; any other field is skipped.
`null` stands for "not given" wherever OpenAI's own schema allows it.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from quart_app.dialects.schema import (
    INT_MAX, INT_MIN, Effort, JsonObject, NonEmptyStr, Text, integer, number,
)

Role = Literal["developer", "system", "user", "assistant", "tool"]
#: Function names go verbatim into the prompt markup: no whitespace or angle brackets. (The
#: look-ahead stops `$` from matching before a final newline, as Python's `$` would.)
ToolName = Annotated[str, Meta(pattern=r"^[^\s<>]{1,128}(?!\n)$")]


class _Part(Struct, tag_field="type"):
    """A content part, told apart by its `type`."""


class TextPart(_Part, tag="text"):
    text: str


class ImageUrl(Struct):
    url: str | None = None  # media.py says what a missing or malformed one should be
    detail: str | None = None


class ImageUrlPart(_Part, tag="image_url"):
    image_url: str | ImageUrl


class InputAudio(Struct):
    data: str | None = None
    format: str | None = None


class InputAudioPart(_Part, tag="input_audio"):
    input_audio: InputAudio


class FileRef(Struct):
    file_data: str | None = None
    data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Part, tag="file"):
    file: FileRef


Part = str | TextPart | ImageUrlPart | InputAudioPart | FilePart


class CalledFunction(Struct):
    name: NonEmptyStr
    arguments: Any = None  # a JSON string as OpenAI sends it, or the object itself


class HistoryCall(Struct):
    """An earlier tool call of an assistant message."""

    function: CalledFunction
    id: str | None = None
    type: str | None = None


class ChatMessage(Struct):
    role: Role
    content: str | list[Part] | None = None
    tool_calls: list[HistoryCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionDef(Struct):
    name: ToolName
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


class ChatTool(Struct):
    type: Literal["function"]
    function: FunctionDef


class FunctionName(Struct):
    name: str | None = None


class ToolChoiceObject(Struct):
    type: str
    function: FunctionName | None = None
    name: str | None = None


class StreamOptions(Struct):
    include_usage: bool | None = None


class ChatBody(Struct):
    model: Text
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    reasoning_effort: Effort | None = None
    thinking: Any = None  # legacy "enabled" / "disabled"; other values are ignored
    temperature: number(0, 2) | None = None  # checked, never forwarded (no such knob)
    top_p: number(0, 1) | None = None
    tools: list[ChatTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    stop: str | list[str] | None = None  # counted and measured by `common_request.stop_list`
    #: the image and video models' options (`dialects/chat_media_request.py` checks them)
    image_config: dict[str, Any] | None = None
    video_config: dict[str, Any] | None = None
    # accepted and ignored, but only when OpenAI would accept them
    max_tokens: integer(1) | None = None
    max_completion_tokens: integer(1) | None = None
    n: integer(1, 128) | None = None
    seed: integer(INT_MIN, INT_MAX >> 1) | None = None
    presence_penalty: number(-2, 2) | None = None
    frequency_penalty: number(-2, 2) | None = None
    logprobs: bool | None = None
    top_logprobs: integer(0, 20) | None = None
    user: str | None = None

