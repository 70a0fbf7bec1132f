"""Turns an OpenAI chat completions body into the neutral ChatRequest.

The body's shape, types and ranges are declared in `chat_model.py` and checked while it is
decoded; what is left here is what a schema cannot say (a forced tool must be declared,
media values must be URLs or data URIs). Every rejection is a 400 naming the field's dotted
path. Tools: function tools only; assistant `tool_calls` become neutral
{"id","name","arguments"}.
"""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from addons.upstream.prompt import compact_json
from quart_app.dialects.chat_model import (
    ChatBody, ChatMessage, ChatTool, FilePart, HistoryCall, ImageUrlPart, InputAudioPart, Part,
    TextPart, ToolChoiceObject,
)
from quart_app.dialects.common_request import stop_list, stream_flag, thinking_default
from quart_app.dialects.media import file_part, image_url_part, input_audio_part
from quart_app.dialects.schema import check_json, check_json_each, decode

#: OpenAI's chat API takes up to 4 stop sequences
OPENAI_MAX_STOP = 4
TOOL_CHOICES = frozenset({"auto", "none", "required"})


def _parts(content: str | list[Part] | None, param: str) -> tuple[list[str], list[Attachment]]:
    """(text parts, attachments) of a message's content (media parts: media.py)."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    attachments: list[Attachment] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImageUrlPart):
            attachments.append(image_url_part(part.image_url, f"{param}.{j}"))
        elif isinstance(part, InputAudioPart):
            attachments.append(input_audio_part(part.input_audio, f"{param}.{j}"))
        elif isinstance(part, FilePart):
            attachments.append(file_part(part.file, f"{param}.{j}"))
    return texts, attachments


def _message(raw: ChatMessage, i: int) -> Message:
    param = f"messages.{i}"
    parts, attachments = _parts(raw.content, f"{param}.content")
    msg = Message(role=raw.role, parts=parts, attachments=attachments)
    if raw.tool_calls is not None:
        msg.tool_calls = [_history_call(c, f"{param}.tool_calls.{k}")
                          for k, c in enumerate(raw.tool_calls)]
    msg.tool_call_id = raw.tool_call_id
    return msg


def _history_call(raw: HistoryCall, param: str) -> dict[str, Any]:
    """An earlier call of an assistant message as the neutral {"id", "name", "arguments"}."""
    args = raw.function.arguments
    check_json(args, f"{param}.function.arguments")
    return {"id": raw.id or "", "name": raw.function.name,
            "arguments": compact_json(args if args is not None else {})}


def _tools(raw: list[ChatTool] | None) -> list[ToolSpec]:
    if not raw:
        return []
    tools = [ToolSpec(t.function.name, t.function.description or "", t.function.parameters or {})
             for t in raw]
    check_json_each([t.parameters for t in tools], "tools.{}.function.parameters".format)
    return tools


def _tool_choice(raw: str | ToolChoiceObject | None,
                 tools: list[ToolSpec]) -> tuple[str, str | None]:
    """(neutral choice auto | none | required, forced function name)."""
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        return raw, None
    if raw.type in TOOL_CHOICES:
        return raw.type, None
    if raw.type != "function":
        raise validation(f"unknown tool_choice type {raw.type!r}", "tool_choice")
    name = raw.function.name if raw.function is not None else raw.name
    if name is None or name not in {t.name for t in tools}:
        raise validation(f"tool_choice names function {name!r}, which is not among the tools",
                         "tool_choice")
    return "required", name


def parse_chat_request(body: Any, settings: Any) -> ChatRequest:
    """`body`: the raw JSON bytes (or the JSON already decoded)."""
    return chat_job(decode(body, ChatBody), settings)


def show_reasoning(req: ChatBody, settings: Any) -> bool:
    if req.reasoning_effort is not None:
        return req.reasoning_effort != "none"
    if req.thinking in ("enabled", "disabled"):
        return req.thinking == "enabled"
    return thinking_default(settings)


def messages_of(req: ChatBody) -> list[Message]:
    return [_message(m, i) for i, m in enumerate(req.messages)]


def chat_job(req: ChatBody, settings: Any) -> ChatRequest:
    """The chat job of a decoded body."""
    reasoning = show_reasoning(req, settings)
    tools = _tools(req.tools)
    tool_choice, forced = _tool_choice(req.tool_choice, tools)
    options = req.stream_options
    return ChatRequest(
        model=req.model, messages=messages_of(req),
        stream=stream_flag(req.stream, settings), reasoning=reasoning,
        include_usage=bool(options is not None and options.include_usage),
        tools=tools, tool_choice=tool_choice, forced_tool=forced,
        parallel_tool_calls=req.parallel_tool_calls is not False,
        stop=stop_list({"stop": req.stop}, "stop", allow_string=True, most=OPENAI_MAX_STOP),
        effort=req.reasoning_effort,
    )
