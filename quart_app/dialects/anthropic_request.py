"""Parses and validates an Anthropic Messages body into the neutral ChatRequest.

Unknown fields are ignored. Unknown content block types and a `tool_result` that answers no
earlier `tool_use` are `invalid_request_error`, as the real API answers; the other rejections
are the gateway's usual `validation_error`. Every rejection is a 400 naming the field's
dotted path.
"""
from __future__ import annotations

import base64
from typing import Any

from addons.errors import ApiError, validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from addons.upstream.prompt import compact_json
from quart_app.dialects.common_request import check_role, stop_list, stream_flag, tool_items
from quart_app.dialects.media import attachment, base64_attachment, file_id_unsupported
from quart_app.dialects.validate import obj, opt_bool, opt_number, req_str

ROLES = frozenset({"user", "assistant", "system"})
MEDIA_BLOCKS = frozenset({"image", "document"})
HISTORY_ONLY = frozenset({"thinking", "redacted_thinking"})  # accepted and dropped
THINKING_ON = frozenset({"enabled", "adaptive", "between_tools"})
TOOL_CHOICES = {"auto": "auto", "any": "required", "tool": "required", "none": "none"}


def invalid_request(message: str, param: str | None = None) -> ApiError:
    """What the real Messages API answers for a malformed conversation."""
    return ApiError(400, message, type="invalid_request_error", code="invalid_value", param=param)


def _text(block: dict, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise validation("text block needs a string 'text'", f"{where}.text")
    return text


def _media(block: dict, kind: str, where: str) -> Attachment:
    """`image` / `document` with a base64, url (fetched like any media URL) or text source."""
    source = obj(block.get("source"), f"{where}.source")
    stype = source.get("type")
    at = f"{where}.source"
    file_kind = "image" if kind == "image" else "file"
    if stype == "base64":
        default = "image/png" if kind == "image" else "application/pdf"
        mime = source.get("media_type") or default
        if not isinstance(mime, str):
            raise validation("media_type must be a string", f"{at}.media_type")
        return base64_attachment(file_kind, source.get("data"), mime, f"{at}.data")
    if stype == "url":
        return attachment(file_kind, source.get("url"), f"{at}.url")
    if stype == "text" and kind == "document":
        text = source.get("data")
        if not isinstance(text, str) or not text:
            raise validation("text source needs a non-empty string 'data'", f"{at}.data")
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return attachment("file", f"data:text/plain;base64,{encoded}", f"{at}.data", "document.txt")
    if stype == "file":
        raise file_id_unsupported(f"{at}.file_id")
    raise validation(f"unsupported {kind} source type {stype!r}: use base64 or url", f"{at}.type",
                     code="unsupported_content")


def _block_type(block: Any, where: str) -> str:
    obj(block, where)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise invalid_request("content block needs a string 'type'", f"{where}.type")
    return kind


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise validation("'system' must be a string or an array of text blocks", "system")
    texts = []
    for j, block in enumerate(system):
        where = f"system.{j}"
        kind = _block_type(block, where)
        if kind != "text":
            raise invalid_request(f"system blocks must be of type 'text', got {kind!r}",
                                  f"{where}.type")
        texts.append(_text(block, where))
    return "\n".join(texts)


def _tool_result(block: dict, where: str) -> tuple[str, list[Attachment]]:
    """(text, attachments) of a tool_result block."""
    content = block.get("content")
    attachments: list[Attachment] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content.{k}"
            kind = _block_type(inner, at)
            if kind == "text":
                texts.append(_text(inner, at))
            elif kind in MEDIA_BLOCKS:
                attachments.append(_media(inner, kind, at))
            else:
                raise invalid_request(f"unknown tool_result content block type {kind!r}",
                                      f"{at}.type")
        text = "\n".join(texts)
    else:
        raise validation("tool_result content must be a string or an array of blocks",
                         f"{where}.content")
    if block.get("is_error") is True:
        text = f"[error] {text}"
    return text, attachments


class _Conversation:
    """Builds neutral messages in block order: each `tool_result` becomes its own tool
    message between the text around it, and every `tool_use` id is remembered so a later
    `tool_result` can be checked against it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tool_use_ids: set[str] = set()

    def add(self, raw: Any, i: int) -> None:
        param = f"messages.{i}"
        obj(raw, param)
        role = raw.get("role")
        check_role(role, ROLES, param)
        content = raw.get("content")
        if isinstance(content, str):
            self.messages.append(Message(role=role, parts=[content]))
            return
        if not isinstance(content, list):
            raise validation("content must be a string or an array of content blocks",
                             f"{param}.content")
        current = Message(role=role)
        for j, block in enumerate(content):
            current = self._block(current, role, block, f"{param}.content.{j}")
        if current.parts or current.tool_calls or current.attachments:
            self.messages.append(current)

    def _block(self, current: Message, role: str, block: Any, where: str) -> Message:
        """Adds one block; returns the message that collects the blocks after it."""
        kind = _block_type(block, where)
        if kind == "text":
            current.parts.append(_text(block, where))
        elif kind == "tool_use":
            if role != "assistant":
                raise invalid_request("tool_use blocks are only allowed in assistant messages",
                                      f"{where}.type")
            current.tool_calls.append(self._tool_use(block, where))
        elif kind == "tool_result":
            if role != "user":
                raise invalid_request("tool_result blocks are only allowed in user messages",
                                      f"{where}.type")
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or call_id not in self.tool_use_ids:
                raise invalid_request(
                    f"tool_result block has tool_use_id {call_id!r}, which matches no earlier "
                    "tool_use block", f"{where}.tool_use_id")
            if current.parts or current.attachments:
                self.messages.append(current)
                current = Message(role=role)
            text, attachments = _tool_result(block, where)
            self.messages.append(Message(role="tool", parts=[text], attachments=attachments,
                                         tool_call_id=call_id))
        elif kind in MEDIA_BLOCKS:
            current.attachments.append(_media(block, kind, where))
        elif kind not in HISTORY_ONLY:
            raise invalid_request(f"unknown content block type {kind!r}", f"{where}.type")
        return current

    def _tool_use(self, block: dict, where: str) -> dict[str, Any]:
        call_id = block.get("id")
        name = block.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise invalid_request("tool_use block needs a string 'id'", f"{where}.id")
        if not isinstance(name, str) or not name:
            raise invalid_request("tool_use block needs a string 'name'", f"{where}.name")
        args = block.get("input", {})
        if not isinstance(args, dict):
            raise invalid_request("tool_use 'input' must be an object", f"{where}.input")
        self.tool_use_ids.add(call_id)
        return {"id": call_id, "name": name, "arguments": compact_json(args)}


def _tools(raw: Any) -> list[ToolSpec]:
    tools: list[ToolSpec] = []
    for i, tool in enumerate(tool_items(raw)):
        where = f"tools.{i}"
        obj(tool, where)
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic server tools (web_search_…, bash_…): nothing to emulate
        name = tool.get("name")
        if not isinstance(name, str) or not name.strip():
            raise validation("tool needs a non-empty string 'name'", f"{where}.name")
        description = tool.get("description") or ""
        if not isinstance(description, str):
            raise validation("tool 'description' must be a string", f"{where}.description")
        schema = tool.get("input_schema") or {}
        obj(schema, f"{where}.input_schema")
        tools.append(ToolSpec(name=name, description=description, parameters=schema))
    return tools


def _tool_choice(raw: Any, tools: list[ToolSpec]) -> tuple[str, str | None, bool]:
    """(tool_choice, forced_tool, parallel_tool_calls) from Anthropic's tool_choice object."""
    if raw is None:
        return "auto", None, True
    obj(raw, "tool_choice")
    kind = raw.get("type")
    if kind not in TOOL_CHOICES:
        raise validation(f"tool_choice.type must be one of {', '.join(TOOL_CHOICES)}",
                         "tool_choice.type")
    forced = None
    if kind == "tool":
        forced = raw.get("name")
        if not isinstance(forced, str) or forced not in {t.name for t in tools}:
            raise validation("tool_choice.name must name one of the declared tools",
                             "tool_choice.name")
    parallel = not opt_bool(raw, "disable_parallel_tool_use",
                            "tool_choice.disable_parallel_tool_use")
    return TOOL_CHOICES[kind], forced, parallel


def _reasoning(raw: Any, settings: Any) -> bool:
    if raw is None:
        return settings.options.features.thinking
    obj(raw, "thinking")
    kind = raw.get("type")
    if kind == "disabled":
        return False
    if kind in THINKING_ON:
        return True  # budget_tokens is ignored: grok.com has no such knob
    raise validation("thinking.type must be 'enabled' or 'disabled'", "thinking.type")


def parse_messages_request(body: Any, settings: Any) -> ChatRequest:
    """The neutral request of `/v1/messages` (and of `count_tokens`, which ignores `stream`)."""
    body = obj(body)
    model = req_str(body, "model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise validation("'messages' must be a non-empty array", "messages")
    conversation = _Conversation()
    system = body.get("system")
    if system is not None:
        text = _system_text(system)
        if text:
            conversation.messages.append(Message(role="system", parts=[text]))
    for i, raw in enumerate(raw_messages):
        conversation.add(raw, i)

    opt_number(body, "temperature", 0, 1)  # validated, not forwarded (grok.com has no such knob)
    opt_number(body, "top_p", 0, 1)
    stream = stream_flag(body, settings)
    tools = _tools(body.get("tools"))
    choice, forced, parallel = _tool_choice(body.get("tool_choice"), tools)
    return ChatRequest(
        model=model, messages=conversation.messages, stream=stream,
        reasoning=_reasoning(body.get("thinking"), settings), tools=tools, tool_choice=choice,
        forced_tool=forced, parallel_tool_calls=parallel,
        stop=stop_list(body, "stop_sequences", allow_string=False),
    )
