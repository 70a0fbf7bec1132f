"""Parses and validates an OpenAI Responses body into the neutral ChatRequest.

Unknown fields are ignored; every rejection is a 400 validation_error naming the
field's dotted path. `previous_response_id` and `store` (default true, as in OpenAI's API)
are handed to the continuation addon (`addons/continuation.py`): a stored answer may be
continued upstream by a later request; an unknown id is never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from addons.errors import validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from quart_app.dialects.common_request import (
    check_effort, check_role, parallel_flag, stream_flag, tool_items,
)
from quart_app.dialects.media import (
    file_part, input_audio_part, responses_file_part, responses_image_part,
)
from quart_app.dialects.validate import obj, opt_number, req_str

ROLES = frozenset({"developer", "system", "user", "assistant"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})
MEDIA_PARTS = {"input_image": responses_image_part, "image": responses_image_part,
               "input_file": responses_file_part, "input_audio": input_audio_part, "file": file_part}
#: Item types that carry nothing for the flattened prompt.
SKIPPED_ITEMS = frozenset({"reasoning", "item_reference"})


@dataclass(slots=True)
class ResponsesRequest:
    """The neutral request plus what the response object echoes back to the client."""

    chat: ChatRequest
    echo: dict[str, Any] = field(default_factory=dict)


def _text_of(part: dict, where: str) -> str:
    """The text of an `input_text` / `output_text` / `refusal` part."""
    key = "refusal" if part.get("type") == "refusal" else "text"
    text = part.get(key)
    if not isinstance(text, str):
        raise validation(f"{part.get('type')} part needs a string '{key}'", f"{where}.{key}")
    return text


def _parts(content: Any, param: str) -> tuple[list[str], list[Attachment]]:
    """(text parts, attachments) of an item's content (media parts: media.py)."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    if not isinstance(content, list):
        raise validation("content must be a string or an array of parts", param)
    texts: list[str] = []
    attachments: list[Attachment] = []
    for j, part in enumerate(content):
        where = f"{param}.{j}"
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = obj(part, where).get("type")
        if kind in TEXT_PARTS:
            texts.append(_text_of(part, where))
        elif kind in MEDIA_PARTS:
            attachments.append(MEDIA_PARTS[kind](part, where))
        else:
            raise validation(f"unknown content part type {kind!r}", f"{where}.type")
    return texts, attachments


def _opt_str(item: dict, key: str, param: str, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise validation(f"'{key}' must be a{' non-empty' if required else ''} string",
                         f"{param}.{key}")
    return value


def _items(raw: list, messages: list[Message]) -> None:
    for i, item in enumerate(raw):
        param = f"input.{i}"
        kind = obj(item, param).get("type")
        if kind == "message" or (kind is None and "role" in item):
            role = item.get("role")
            check_role(role, ROLES, param)
            parts, attachments = _parts(item.get("content"), f"{param}.content")
            messages.append(Message(role=role, parts=parts, attachments=attachments))
        elif kind == "function_call":
            call_id = _opt_str(item, "call_id", param, required=True)
            name = _opt_str(item, "name", param, required=True)
            arguments = item.get("arguments", "{}")
            if not isinstance(arguments, str):
                raise validation("'arguments' must be a JSON string", f"{param}.arguments")
            call = {"id": call_id, "name": name, "arguments": arguments or "{}"}
            last = messages[-1] if messages else None
            # consecutive calls (and the assistant text before them) form one assistant turn
            if last is not None and last.role == "assistant":
                last.tool_calls.append(call)
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            call_id = _opt_str(item, "call_id", param, required=True)
            output = item.get("output")
            if output is not None and not isinstance(output, (str, list)):
                raise validation("'output' must be a string or an array of parts", f"{param}.output")
            parts, attachments = _parts(output, f"{param}.output")
            messages.append(Message(role="tool", parts=parts, attachments=attachments,
                                    tool_call_id=call_id))
        # reasoning items, item references and unknown types are skipped


def _tools(raw: Any) -> list[ToolSpec]:
    """Flat Responses tools and nested chat-form tools become ToolSpecs. `web_search*` is
    dropped (grok searches natively); other built-ins become function tools named by type."""
    specs: list[ToolSpec] = []
    for i, tool in enumerate(tool_items(raw)):
        param = f"tools.{i}"
        kind = obj(tool, param).get("type")
        if not isinstance(kind, str):
            raise validation("tool needs a string 'type'", f"{param}.type")
        if kind.startswith("web_search"):
            continue
        src = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        where = f"{param}.function" if src is not tool else param
        if kind == "function":
            name = _opt_str(src, "name", where, required=True)
        else:
            name = src.get("name") if isinstance(src.get("name"), str) and src["name"] else kind
        description = src.get("description") or ""
        if not isinstance(description, str):
            raise validation("'description' must be a string", f"{where}.description")
        parameters = src.get("parameters")
        parameters = {} if parameters is None else parameters
        if not isinstance(parameters, dict):
            raise validation("'parameters' must be a JSON schema object", f"{where}.parameters")
        specs.append(ToolSpec(name=name, description=description, parameters=parameters))
    return specs


def _tool_choice(raw: Any) -> tuple[str, str | None]:
    """(tool_choice, forced_tool) from the string, flat and nested forced forms."""
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        return (raw, None) if raw in ("auto", "none", "required") else ("auto", None)
    kind = obj(raw, "tool_choice").get("type")
    if kind in ("auto", "none", "required"):
        return kind, None
    if kind == "function":
        fn = raw.get("function") if isinstance(raw.get("function"), dict) else raw
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise validation("a forced function needs a 'name'", "tool_choice.name")
        return "required", name
    return "auto", None  # allowed_tools, built-in tool types: the model decides


def _reasoning(body: dict, settings: Any) -> bool:
    raw = body.get("reasoning")
    if raw is None:
        return settings.options.features.thinking
    effort = obj(raw, "reasoning").get("effort")
    check_effort(effort, "reasoning.effort")
    return effort != "none"


def parse_responses_request(body: Any, settings: Any) -> ResponsesRequest:
    body = obj(body)
    model = req_str(body, "model")
    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise validation("'instructions' must be a string", "instructions")
    if instructions:
        messages.append(Message(role="system", parts=[instructions]))

    raw_input = body.get("input")
    if isinstance(raw_input, str) and raw_input.strip():
        messages.append(Message(role="user", parts=[raw_input]))
    elif isinstance(raw_input, list) and raw_input:
        _items(raw_input, messages)
    else:
        raise validation("'input' is required: a non-empty string or array of items", "input")

    temperature = opt_number(body, "temperature", 0, 2)  # validated, not forwarded (no such knob)
    top_p = opt_number(body, "top_p", 0, 1)
    stream = stream_flag(body, settings)
    parallel = parallel_flag(body)
    tools = _tools(body.get("tools"))
    choice, forced = _tool_choice(body.get("tool_choice"))

    store = body.get("store")
    if store is not None and not isinstance(store, bool):
        raise validation("'store' must be a boolean", "store")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise validation("'previous_response_id' must be a string", "previous_response_id")

    chat = ChatRequest(
        model=model, messages=messages, stream=stream, reasoning=_reasoning(body, settings),
        tools=tools, tool_choice=choice, forced_tool=forced,
        parallel_tool_calls=parallel, store=store is not False,
        previous_response_id=previous or None,
    )
    echo = {
        "instructions": instructions,
        "temperature": temperature,
        "top_p": top_p,
        "parallel_tool_calls": chat.parallel_tool_calls,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "previous_response_id": previous or None,
        "store": chat.store,
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    }
    return ResponsesRequest(chat=chat, echo=echo)
