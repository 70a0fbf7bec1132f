"""Turns an Anthropic Messages body into the neutral ChatRequest.

The body's shape, types and ranges are declared in `anthropic_model.py`. An unknown content
block type and a `tool_result` that answers no earlier `tool_use` are `invalid_request_error`,
as the real API answers; the other rejections are the gateway's usual `validation_error`.
Every rejection is a 400 naming the field's dotted path.
"""
from __future__ import annotations

import base64
import re
from typing import Any

from addons.errors import ApiError, validation
from addons.jobs import Attachment, ChatRequest, Message, ToolSpec
from addons.upstream.prompt import compact_json
from quart_app.dialects.anthropic_model import (
    AnthropicMessage, AnthropicTool, AnthropicToolChoice, DocumentBlock, ImageBlock,
    MessagesBody, TextBlock, ThinkingConfig, ToolResultBlock, ToolUseBlock,
)
from quart_app.dialects.common_request import stop_list, stream_flag, thinking_default
from quart_app.dialects.media import attachment, base64_attachment, file_id_unsupported
from quart_app.dialects.schema import check_json, check_json_each, decode

TOOL_CHOICES = {"auto": "auto", "any": "required", "tool": "required", "none": "none"}
#: The `type` of a content block (in a message, a tool result or the system prompt).
_BLOCK_TYPE = re.compile(r"(^system|\.content)\.\d+\.type$")


def invalid_request(message: str, param: str | None = None) -> ApiError:
    """What the real Messages API answers for a malformed conversation."""
    return ApiError(400, message, type="invalid_request_error", code="invalid_value", param=param)


def _restate(err: ApiError) -> ApiError:
    """A block of an unknown or missing type is a malformed conversation to Anthropic."""
    if err.param and _BLOCK_TYPE.search(err.param):
        return invalid_request(f"unknown or missing content block type ({err.message})",
                               err.param)
    return err


def _media(block: ImageBlock | DocumentBlock, where: str) -> Attachment:
    """`image` / `document` with a base64, url (fetched like any media URL) or text source."""
    source = block.source
    at = f"{where}.source"
    image = isinstance(block, ImageBlock)
    file_kind = "image" if image else "file"
    if source.type == "base64":
        mime = source.media_type or ("image/png" if image else "application/pdf")
        return base64_attachment(file_kind, source.data, mime, f"{at}.data")
    if source.type == "url":
        return attachment(file_kind, source.url, f"{at}.url")
    if source.type == "text" and not image:
        if not source.data:
            raise validation("text source needs a non-empty string 'data'", f"{at}.data")
        encoded = base64.b64encode(source.data.encode("utf-8")).decode("ascii")
        return attachment("file", f"data:text/plain;base64,{encoded}", f"{at}.data", "document.txt")
    if source.type == "file":
        raise file_id_unsupported(f"{at}.file_id")
    raise validation(f"unsupported {'image' if image else 'document'} source type "
                     f"{source.type!r}: use base64 or url", f"{at}.type", code="unsupported_content")


def _tool_result(block: ToolResultBlock, where: str) -> tuple[str, list[Attachment]]:
    """(text, attachments) of a tool_result block."""
    content = block.content
    attachments: list[Attachment] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts = []
        for k, inner in enumerate(content):
            if isinstance(inner, TextBlock):
                texts.append(inner.text)
            else:
                attachments.append(_media(inner, f"{where}.content.{k}"))
        text = "\n".join(texts)
    if block.is_error is True:
        text = f"[error] {text}"
    return text, attachments


class _Conversation:
    """Builds neutral messages in block order: each `tool_result` becomes its own tool
    message between the text around it, and every `tool_use` id is remembered so a later
    `tool_result` can be checked against it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tool_use_ids: set[str] = set()

    def add(self, raw: AnthropicMessage, i: int) -> None:
        role = raw.role
        if isinstance(raw.content, str):
            self.messages.append(Message(role=role, parts=[raw.content]))
            return
        current = Message(role=role)
        for j, block in enumerate(raw.content):
            current = self._block(current, role, block, f"messages.{i}.content.{j}")
        if current.parts or current.tool_calls or current.attachments:
            self.messages.append(current)

    def _block(self, current: Message, role: str, block: Any, where: str) -> Message:
        """Adds one block; returns the message that collects the blocks after it."""
        if isinstance(block, TextBlock):
            current.parts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            if role != "assistant":
                raise invalid_request("tool_use blocks are only allowed in assistant messages",
                                      f"{where}.type")
            check_json(block.input, f"{where}.input")
            self.tool_use_ids.add(block.id)
            current.tool_calls.append({"id": block.id, "name": block.name,
                                       "arguments": compact_json(block.input)})
        elif isinstance(block, ToolResultBlock):
            if role != "user":
                raise invalid_request("tool_result blocks are only allowed in user messages",
                                      f"{where}.type")
            call_id = block.tool_use_id
            if not isinstance(call_id, str) or call_id not in self.tool_use_ids:
                shown = call_id if isinstance(call_id, str) else type(call_id).__name__
                raise invalid_request(
                    f"tool_result block has tool_use_id {shown!r}, which matches no earlier "
                    "tool_use block", f"{where}.tool_use_id")
            if current.parts or current.attachments:
                self.messages.append(current)
                current = Message(role=role)
            text, attachments = _tool_result(block, where)
            self.messages.append(Message(role="tool", parts=[text], attachments=attachments,
                                         tool_call_id=call_id))
        elif isinstance(block, (ImageBlock, DocumentBlock)):
            current.attachments.append(_media(block, where))
        # thinking and redacted_thinking: history only, dropped
        return current


def _tools(raw: list[AnthropicTool] | None) -> list[ToolSpec]:
    if not raw:
        return []
    # Anthropic server tools (web_search_…, bash_…): nothing to emulate
    where = [i for i, tool in enumerate(raw) if tool.type in (None, "custom")]
    for i in where:
        if not (raw[i].name or "").strip():
            raise validation("a custom tool needs a non-empty 'name'", f"tools.{i}.name")
    check_json_each([raw[i].input_schema for i in where],
                    lambda k: f"tools.{where[k]}.input_schema")
    return [ToolSpec(name=raw[i].name, description=raw[i].description or "",
                     parameters=raw[i].input_schema or {}) for i in where]


def _tool_choice(raw: AnthropicToolChoice | None,
                 tools: list[ToolSpec]) -> tuple[str, str | None, bool]:
    """(tool_choice, forced_tool, parallel_tool_calls) from Anthropic's tool_choice object."""
    if raw is None:
        return "auto", None, True
    forced = None
    if raw.type == "tool":
        forced = raw.name
        if forced is None or forced not in {t.name for t in tools}:
            raise validation("tool_choice.name must name one of the declared tools",
                             "tool_choice.name")
    return TOOL_CHOICES[raw.type], forced, not raw.disable_parallel_tool_use


def _reasoning(raw: ThinkingConfig | None, settings: Any) -> bool:
    if raw is None:
        return thinking_default(settings)
    return raw.type != "disabled"  # budget_tokens is ignored: grok.com has no such knob


def _effort(req: MessagesBody) -> str | None:
    """The console's effort (console-and-voice §3.2): `output_config.effort`, else
    `thinking.effort`, else from `budget_tokens` (≤ 2048 low, > 10000 high, else medium);
    none when thinking is disabled or absent."""
    thinking = req.thinking
    if thinking is None or thinking.type not in ("enabled", "adaptive"):
        return None
    if req.output_config is not None and req.output_config.effort:
        return req.output_config.effort
    if thinking.effort:
        return thinking.effort
    budget = thinking.budget_tokens
    if budget is None:
        return None
    return "low" if budget <= 2048 else "high" if budget > 10000 else "medium"


def parse_messages_request(body: Any, settings: Any) -> ChatRequest:
    """The neutral request of `/v1/messages` (and of `count_tokens`, which ignores `stream`).
    `body`: the raw JSON bytes (or the JSON already decoded)."""
    req = decode(body, MessagesBody, errors=_restate)
    conversation = _Conversation()
    if req.system is not None:
        text = req.system if isinstance(req.system, str) else "\n".join(b.text for b in req.system)
        if text:
            conversation.messages.append(Message(role="system", parts=[text]))
    for i, raw in enumerate(req.messages):
        conversation.add(raw, i)
    tools = _tools(req.tools)
    choice, forced, parallel = _tool_choice(req.tool_choice, tools)
    return ChatRequest(
        model=req.model, messages=conversation.messages, stream=stream_flag(req.stream, settings),
        reasoning=_reasoning(req.thinking, settings), tools=tools, tool_choice=choice,
        forced_tool=forced, parallel_tool_calls=parallel,
        stop=stop_list({"stop_sequences": req.stop_sequences}, "stop_sequences",
                       allow_string=False),
        effort=_effort(req),
    )
