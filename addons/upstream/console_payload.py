"""A neutral chat job → the body of the console's `POST /v1/responses` (C2), already in the
shape the console normalisation of console-and-voice §3.3 leaves it in.

The three dialects were parsed into one `ChatRequest`, so one conversion serves them: messages
become Responses `input` items (text parts `input_text`, images `input_image`, earlier tool
calls `function_call`, tool answers `function_call_output`), function tools are flattened,
and the reasoning effort is sent by the model's rules (`console_models`). The upstream is
always asked to stream: one parser serves streaming and buffered clients, and the gateway's
own first-byte and idle timeouts apply to both.
"""
from __future__ import annotations

from typing import Any

from addons.jobs import ChatRequest, Message
from addons.upstream.console_models import ConsoleModel, normalise_effort

#: `include` always asks for the encrypted reasoning (§3.3 step 7).
INCLUDE = ["reasoning.encrypted_content"]


def _content(message: Message) -> str | list[dict[str, Any]]:
    text = "\n".join(message.parts)
    if not message.attachments:
        return text
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": t} for t in message.parts if t]
    for att in message.attachments:
        if att.kind == "image":
            parts.append({"type": "input_image", "image_url": att.url, "detail": "auto"})
    return parts


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            items.append({"type": "function_call_output", "call_id": m.tool_call_id or "",
                          "output": "\n".join(m.parts)})
            continue
        if m.parts or m.attachments or not m.tool_calls:
            items.append({"type": "message", "role": m.role, "content": _content(m)})
        for call in m.tool_calls:
            items.append({"type": "function_call", "call_id": call.get("id", ""),
                          "name": call.get("name", ""),
                          "arguments": call.get("arguments") or "{}"})
    return items


def responses_body(job: ChatRequest, model: ConsoleModel, fixed_effort: str | None) -> dict[str, Any]:
    """The C2 body. `fixed_effort`: an alias's effort (`grok-4.3-high`), which wins over the
    client's."""
    body: dict[str, Any] = {"model": model.upstream, "input": input_items(job.messages),
                            "stream": True, "store": False,
                            "max_output_tokens": model.max_output}
    if model.reasoning == "effort":
        effort = normalise_effort(model, fixed_effort or job.effort)
        if effort is not None:
            body["reasoning"] = {"effort": effort}
    body["include"] = list(INCLUDE)
    if job.tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.parameters or {"type": "object", "properties": {}}}
                         for t in job.tools]
        if job.forced_tool:
            body["tool_choice"] = {"type": "function", "name": job.forced_tool}
        else:
            body["tool_choice"] = job.tool_choice if job.tool_choice in (
                "auto", "none", "required") else "auto"
        body["parallel_tool_calls"] = job.parallel_tool_calls
    for key in ("temperature", "top_p"):
        if key in job.options:
            body[key] = job.options[key]
    return body
