"""Parses and validates an OpenAI chat completions body into the neutral ChatRequest (§4.2.1).

Unknown fields are ignored (GEN-1); every rejection is a 400 with the field's dotted path.
"""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from addons.flow import ChatRequest, Message
from quart_app.dialects.validate import obj, opt_bool, opt_number, req_str

ROLES = frozenset({"developer", "system", "user", "assistant", "tool"})
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
MEDIA_PARTS = frozenset({"image_url", "input_audio", "file"})


def _parts(content: Any, param: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise validation("content must be a string, an array of parts or null", param)
    texts: list[str] = []
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
            raise validation(
                f"'{kind}' parts are not supported by this gateway yet; send text only",
                f"{where}.type", code="unsupported_content")
        else:
            raise validation(f"unknown content part type {kind!r}", f"{where}.type")
    return texts


def _message(raw: Any, i: int) -> Message:
    param = f"messages.{i}"
    obj(raw, param)
    role = raw.get("role")
    if role not in ROLES:
        raise validation(f"role must be one of {', '.join(sorted(ROLES))}, got {role!r}",
                         f"{param}.role")
    msg = Message(role=role, parts=_parts(raw.get("content"), f"{param}.content"))
    calls = raw.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise validation("tool_calls must be an array", f"{param}.tool_calls")
        msg.tool_calls = [obj(c, f"{param}.tool_calls.{k}") for k, c in enumerate(calls)]
    call_id = raw.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        raise validation("tool_call_id must be a string", f"{param}.tool_call_id")
    msg.tool_call_id = call_id
    return msg


def parse_chat_request(body: Any, settings: Any) -> ChatRequest:
    body = obj(body)
    model = req_str(body, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise validation("'messages' must be a non-empty array", "messages")
    parsed = [_message(m, i) for i, m in enumerate(messages)]

    opt_number(body, "temperature", 0, 2)  # validated, not forwarded (GEN-9)
    opt_number(body, "top_p", 0, 1)
    stream = opt_bool(body, "stream")
    if stream is None:
        stream = settings.bool("features.stream")

    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        include_usage = bool(opt_bool(obj(options, "stream_options"), "include_usage",
                                      "stream_options.include_usage"))

    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise validation(f"reasoning_effort must be one of {', '.join(sorted(EFFORTS))}",
                         "reasoning_effort")
    if effort is not None:
        reasoning = effort != "none"
    elif body.get("thinking") in ("enabled", "disabled"):
        reasoning = body["thinking"] == "enabled"
    else:
        reasoning = settings.bool("features.thinking")

    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise validation("'tools' must be an array", "tools")
    return ChatRequest(
        model=model, messages=parsed, stream=stream, reasoning=reasoning,
        include_usage=include_usage, tools=tools, tool_choice=body.get("tool_choice", "auto"),
    )
