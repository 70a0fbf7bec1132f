"""Turns an OpenAI Responses body into the neutral ChatRequest.

The body's shape, types and ranges are declared in `responses_model.py`; every rejection is a
400 validation_error naming the field's dotted path. `previous_response_id` and `store`
(default true, as in OpenAI's API) are handed to the continuation addon
(`addons/continuation.py`): a stored answer may be continued upstream by a later request; an
unknown id is never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from addons.errors import validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from quart_app.dialects.chat_model import FilePart, InputAudioPart
from quart_app.dialects.common_request import stream_flag, thinking_default
from quart_app.dialects.media import (
    file_part, input_audio_part, responses_file_part, responses_image_part,
)
from quart_app.dialects.responses_model import (
    Content, FunctionCallItem, FunctionCallOutputItem, InputFile, InputImage, MessageItem,
    Refusal, ResponsesBody, ResponsesTool, ResponsesToolChoice, TextPart,
)
from quart_app.dialects.schema import check_json, check_json_each, decode, decode_each

CHOICES = ("auto", "none", "required")


@dataclass(slots=True)
class ResponsesRequest:
    """The neutral request plus what the response object echoes back to the client."""

    chat: ChatRequest
    echo: dict[str, Any] = field(default_factory=dict)


def _parts(content: Content, param: str) -> tuple[list[str], list[Attachment]]:
    """(text parts, attachments) of an item's content (media parts: media.py)."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    attachments: list[Attachment] = []
    for j, part in enumerate(content):
        where = f"{param}.{j}"
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, Refusal):
            texts.append(part.refusal)
        elif isinstance(part, InputImage):
            attachments.append(responses_image_part(part, where))
        elif isinstance(part, InputFile):
            attachments.append(responses_file_part(part, where))
        elif isinstance(part, InputAudioPart):
            attachments.append(input_audio_part(part.input_audio, where))
        elif isinstance(part, FilePart):
            attachments.append(file_part(part.file, where))
    return texts, attachments


def _items(raw: list[dict[str, Any]], messages: list[Message]) -> None:
    """Each item is checked against the model of its kind; unknown kinds are skipped."""
    for i, item in enumerate(raw):
        param = f"input.{i}"
        kind = item.get("type")
        if kind == "message" or (kind is None and "role" in item):
            msg = decode(item, MessageItem, param)
            parts, attachments = _parts(msg.content, f"{param}.content")
            messages.append(Message(role=msg.role, parts=parts, attachments=attachments))
        elif kind == "function_call":
            fc = decode(item, FunctionCallItem, param)
            call = {"id": fc.call_id, "name": fc.name, "arguments": fc.arguments or "{}"}
            last = messages[-1] if messages else None
            # consecutive calls (and the assistant text before them) form one assistant turn
            if last is not None and last.role == "assistant":
                last.tool_calls.append(call)
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            out = decode(item, FunctionCallOutputItem, param)
            parts, attachments = _parts(out.output, f"{param}.output")
            messages.append(Message(role="tool", parts=parts, attachments=attachments,
                                    tool_call_id=out.call_id))
        # reasoning items, item references and unknown types are skipped


def _tools(raw: list[dict[str, Any]] | None) -> list[ToolSpec]:
    """Flat Responses tools and nested chat-form tools become ToolSpecs. `web_search*` is
    dropped (grok searches natively); other built-ins become function tools named by type."""
    if not raw:
        return []
    check_json_each(raw, "tools.{}".format)  # echoed back in the response object
    specs: list[ToolSpec] = []
    for i, tool in enumerate(decode_each(raw, ResponsesTool, "tools.{}".format)):
        if tool.type.startswith("web_search"):
            continue
        src, where = (tool.function, f"tools.{i}.function") if tool.function else (tool, None)
        if tool.type == "function" and not src.name:
            param = f"{where or f'tools.{i}'}.name"
            raise validation("'name' must be a non-empty string", param)
        specs.append(ToolSpec(name=src.name or tool.type, description=src.description or "",
                              parameters=src.parameters or {}))
    return specs


def _tool_choice(raw: str | dict[str, Any] | None) -> tuple[str, str | None]:
    """(tool_choice, forced_tool) from the string, flat and nested forced forms."""
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        return (raw, None) if raw in CHOICES else ("auto", None)
    check_json(raw, "tool_choice")  # echoed back in the response object
    choice = decode(raw, ResponsesToolChoice, "tool_choice")
    if choice.type in CHOICES:
        return choice.type, None
    if choice.type == "function":
        name = choice.function.name if choice.function is not None else choice.name
        if not name:
            raise validation("a forced function needs a 'name'", "tool_choice.name")
        return "required", name
    return "auto", None  # allowed_tools, built-in tool types: the model decides


def parse_responses_request(body: Any, settings: Any) -> ResponsesRequest:
    """`body`: the raw JSON bytes (or the JSON already decoded)."""
    req = decode(body, ResponsesBody)
    messages: list[Message] = []
    if req.instructions:
        messages.append(Message(role="system", parts=[req.instructions]))
    if isinstance(req.input, str) and req.input.strip():
        messages.append(Message(role="user", parts=[req.input]))
    elif isinstance(req.input, list) and req.input:
        _items(req.input, messages)
    else:
        raise validation("'input' is required: a non-empty string or array of items", "input")

    reasoning = thinking_default(settings)
    if req.reasoning is not None:
        reasoning = req.reasoning.effort != "none"
    tools = _tools(req.tools)
    choice, forced = _tool_choice(req.tool_choice)
    chat = ChatRequest(
        model=req.model, messages=messages, stream=stream_flag(req.stream, settings),
        reasoning=reasoning, tools=tools, tool_choice=choice, forced_tool=forced,
        parallel_tool_calls=req.parallel_tool_calls is not False, store=req.store is not False,
        previous_response_id=req.previous_response_id or None,
        effort=req.reasoning.effort if req.reasoning is not None else None,
    )
    echo = {
        "instructions": req.instructions,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "parallel_tool_calls": chat.parallel_tool_calls,
        "tool_choice": req.tool_choice or "auto",
        "tools": req.tools or [],
        "previous_response_id": chat.previous_response_id,
        "store": chat.store,
        "metadata": req.metadata or {},
    }
    return ResponsesRequest(chat=chat, echo=echo)
