"""Parses and validates an OpenAI chat completions body into the neutral ChatRequest.

Unknown fields are ignored; every rejection is a 400 with the field's dotted path.
Tools: function tools only; assistant `tool_calls` become neutral {"id","name","arguments"}.
"""
from __future__ import annotations

import re
from typing import Any

from addons.errors import validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from addons.upstream.prompt import compact_json
from quart_app.dialects.common_request import (
    check_effort, check_role, parallel_flag, stop_list, stream_flag, tool_items,
)

#: OpenAI's chat API takes up to 4 stop sequences
OPENAI_MAX_STOP = 4
from quart_app.dialects.media import file_part, image_url_part, input_audio_part
from quart_app.dialects.validate import obj, opt_bool, opt_number, req_str

ROLES = frozenset({"developer", "system", "user", "assistant", "tool"})
MEDIA_PARTS = {"image_url": image_url_part, "input_audio": input_audio_part, "file": file_part}
TOOL_CHOICES = frozenset({"auto", "none", "required"})
#: Function names are put verbatim into the prompt markup: no whitespace or angle brackets.
_TOOL_NAME = re.compile(r"[^\s<>]{1,128}")


def _parts(content: Any, param: str) -> tuple[list[str], list[Attachment]]:
    """(text parts, attachments) of a message's content (media parts: media.py)."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    if not isinstance(content, list):
        raise validation("content must be a string, an array of parts or null", param)
    texts: list[str] = []
    attachments: list[Attachment] = []
    for j, part in enumerate(content):
        where = f"{param}.{j}"
        if isinstance(part, str):
            texts.append(part)
            continue
        obj(part, where)
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise validation("text part needs a string 'text'", f"{where}.text")
            texts.append(text)
        elif kind in MEDIA_PARTS:
            attachments.append(MEDIA_PARTS[kind](part, where))
        else:
            raise validation(f"unknown content part type {kind!r}", f"{where}.type")
    return texts, attachments


def _message(raw: Any, i: int) -> Message:
    param = f"messages.{i}"
    obj(raw, param)
    role = raw.get("role")
    check_role(role, ROLES, param)
    parts, attachments = _parts(raw.get("content"), f"{param}.content")
    msg = Message(role=role, parts=parts, attachments=attachments)
    calls = raw.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise validation("tool_calls must be an array", f"{param}.tool_calls")
        msg.tool_calls = [_history_call(c, f"{param}.tool_calls.{k}") for k, c in enumerate(calls)]
    call_id = raw.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        raise validation("tool_call_id must be a string", f"{param}.tool_call_id")
    msg.tool_call_id = call_id
    return msg


def _history_call(raw: Any, param: str) -> dict[str, Any]:
    """An earlier call of an assistant message as the neutral {"id", "name", "arguments"}."""
    obj(raw, param)
    fn = obj(raw.get("function"), f"{param}.function")
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise validation("a tool call needs a function name", f"{param}.function.name")
    call_id = raw.get("id")
    if call_id is not None and not isinstance(call_id, str):
        raise validation("id must be a string", f"{param}.id")
    args = fn.get("arguments")
    return {"id": call_id or "", "name": name, "arguments": compact_json(args if args is not None else {})}


def _tools(raw: Any) -> list[ToolSpec]:
    tools: list[ToolSpec] = []
    for i, item in enumerate(tool_items(raw)):
        param = f"tools.{i}"
        obj(item, param)
        if item.get("type") != "function":
            raise validation(f"only function tools are supported, got type {item.get('type')!r}",
                             f"{param}.type")
        fn = obj(item.get("function"), f"{param}.function")
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise validation("function name is required: 1-128 characters, no spaces or angle brackets",
                             f"{param}.function.name")
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise validation("description must be a string", f"{param}.function.description")
        parameters = fn.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise validation("parameters must be a JSON schema object", f"{param}.function.parameters")
        tools.append(ToolSpec(name, description or "", parameters or {}))
    return tools


def _tool_choice(raw: Any, tools: list[ToolSpec]) -> tuple[str, str | None]:
    """(neutral choice auto | none | required, forced function name)."""
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        if raw not in TOOL_CHOICES:
            raise validation("tool_choice must be auto, none, required or a function choice",
                             "tool_choice")
        return raw, None
    obj(raw, "tool_choice")
    kind = raw.get("type")
    if kind in TOOL_CHOICES:
        return kind, None
    if kind != "function":
        raise validation(f"unknown tool_choice type {kind!r}", "tool_choice")
    fn = raw.get("function")
    name = fn.get("name") if isinstance(fn, dict) else raw.get("name")
    if not isinstance(name, str) or name not in {t.name for t in tools}:
        raise validation(f"tool_choice names function {name!r}, which is not among the tools",
                         "tool_choice")
    return "required", name


def parse_chat_request(body: Any, settings: Any) -> ChatRequest:
    body = obj(body)
    model = req_str(body, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise validation("'messages' must be a non-empty array", "messages")
    parsed = [_message(m, i) for i, m in enumerate(messages)]

    opt_number(body, "temperature", 0, 2)  # validated, not forwarded (grok.com has no such knob)
    opt_number(body, "top_p", 0, 1)
    stream = stream_flag(body, settings)

    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        include_usage = bool(opt_bool(obj(options, "stream_options"), "include_usage",
                                      "stream_options.include_usage"))

    effort = body.get("reasoning_effort")
    check_effort(effort, "reasoning_effort")
    if effort is not None:
        reasoning = effort != "none"
    elif body.get("thinking") in ("enabled", "disabled"):
        reasoning = body["thinking"] == "enabled"
    else:
        reasoning = settings.options.features.thinking

    tools = _tools(body.get("tools"))
    tool_choice, forced = _tool_choice(body.get("tool_choice"), tools)
    return ChatRequest(
        model=model, messages=parsed, stream=stream, reasoning=reasoning,
        include_usage=include_usage, tools=tools, tool_choice=tool_choice, forced_tool=forced,
        parallel_tool_calls=parallel_flag(body),
        stop=stop_list(body, "stop", allow_string=True, most=OPENAI_MAX_STOP),
    )
