"""The typed body of `POST /v1/responses` (OpenAI's Responses API subset).

`input` items and `tools` come in many kinds, and kinds the gateway does not know are skipped
(reasoning items, item references, built-in tools), so the body declares them as JSON objects
and the parser checks each known kind against its own model (`MessageItem`,
`FunctionCallItem`, `FunctionCallOutputItem`, `ResponsesTool`). `null` stands for "not
given" wherever OpenAI's own schema allows it.
"""
from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from quart_app.dialects.chat_model import FilePart, InputAudioPart
from quart_app.dialects.schema import Effort, JsonObject, NonEmptyStr, Text, integer, number

Role = Literal["developer", "system", "user", "assistant"]


class _Part(Struct, tag_field="type"):
    """A content part, told apart by its `type`."""


class InputText(_Part, tag="input_text"):
    text: str


class OutputText(_Part, tag="output_text"):
    text: str


class PlainText(_Part, tag="text"):
    text: str


class Refusal(_Part, tag="refusal"):
    refusal: str


class ResponsesImageUrl(Struct):
    url: str | None = None  # media.py says what a missing or malformed one should be


class ImageSource(Struct):
    type: str | None = None
    url: str | None = None
    data: str | None = None
    media_type: str | None = None


class InputImage(_Part, tag="input_image"):
    image_url: str | ResponsesImageUrl | None = None
    file_id: str | None = None
    detail: str | None = None
    source: ImageSource | None = None


class Image(InputImage, tag="image"):
    pass


class InputFile(_Part, tag="input_file"):
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


TextPart = InputText | OutputText | PlainText
Part = (str | InputText | OutputText | PlainText | Refusal | InputImage | Image | InputFile
        | InputAudioPart | FilePart)
Content = str | list[Part] | None


class MessageItem(Struct):
    """`{"type": "message", …}`, or an item with a `role` and no `type`."""

    role: Role
    content: Content = None
    type: str | None = None


class FunctionCallItem(Struct):
    call_id: NonEmptyStr
    name: NonEmptyStr
    arguments: str = "{}"  # a JSON string, as the model wrote it


class FunctionCallOutputItem(Struct):
    call_id: NonEmptyStr
    output: Content = None


class NestedFunction(Struct):
    name: str | None = None
    description: str | None = None
    parameters: JsonObject | None = None


class ResponsesTool(Struct):
    """A flat Responses tool, or the chat form with a nested `function`."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: JsonObject | None = None
    function: NestedFunction | None = None


class ToolChoiceFunction(Struct):
    name: str | None = None


class ResponsesToolChoice(Struct):
    type: str | None = None
    name: str | None = None
    function: ToolChoiceFunction | None = None


class ReasoningOptions(Struct):
    effort: Effort | None = None
    summary: str | None = None


class ResponsesBody(Struct):
    model: Text
    input: str | Annotated[list[JsonObject], Meta(
        description="Items: messages (`type: message` or a `role`), `function_call`, "
                    "`function_call_output`; other item types are skipped.")]
    instructions: str | None = None
    stream: bool | None = None
    reasoning: ReasoningOptions | None = None
    temperature: number(0, 2) | None = None  # checked, never forwarded (no such knob)
    top_p: number(0, 1) | None = None
    tools: Annotated[list[JsonObject], Meta(
        description="Function tools (flat or chat form); `web_search*` is dropped, other "
                    "built-in tools become function tools named by their type.")] | None = None
    tool_choice: str | JsonObject | None = None
    parallel_tool_calls: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    # accepted and ignored, but only when OpenAI would accept them
    max_output_tokens: integer(1) | None = None
    top_logprobs: integer(0, 20) | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    user: str | None = None
