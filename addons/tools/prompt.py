"""The tool description block.

grok.com has no function-calling API: the declared functions and the call format are told to
the model in a `[system]:` block prepended to the flattened prompt. The sieve (sieve.py) then
turns the markup the model writes back into calls.
"""
from __future__ import annotations

from typing import Sequence

import orjson

from addons.flow import ChatRequest, ToolSpec

HEADING = "# Tools\n\nYou can call the following tools (functions). The caller runs them and sends you the results."

FORMAT_RULES = """\
## How to call tools

To call one or more tools, your whole answer must be ONLY this XML block:

<tool_calls>
  <tool_call>
    <tool_name>TOOL_NAME</tool_name>
    <parameters>{"argument":"value"}</parameters>
  </tool_call>
</tool_calls>

Rules:
- Output the <tool_calls> block and nothing else: no text before or after it.
- <tool_name> is exactly one of the tool names listed above.
- <parameters> holds one JSON object matching the tool's parameters schema, on a single line \
(escape newlines inside strings as \\n).
- To call several tools, put several <tool_call> elements inside the one <tool_calls> block.
- Do not wrap the block in code fences (```), and do not describe the call in prose.

Wrong (fenced and with prose):
I will check the weather.
```xml
<tool_calls>...</tool_calls>
```

After you call a tool, wait: its result comes back in a later message as \
"[tool result for <id>]:"."""

RULE_AUTO = ("## When to call\n\nCall a tool only when it is clearly needed to answer; "
             "otherwise answer normally in plain text.")
RULE_NONE = ("## When to call\n\nDo NOT call any tool in this answer and do not write any tool-call "
             "markup. Answer in plain text only.")
RULE_REQUIRED = ("## When to call\n\nYou MUST call at least one tool now: answer with a <tool_calls> "
                 "block only, no plain-text answer. If unsure about a parameter, make your best guess.")
RULE_FORCED = ("## When to call\n\nYou MUST call the tool `{name}` now: answer with a <tool_calls> "
               "block calling `{name}` only, no plain-text answer.")


def _entry(tool: ToolSpec) -> str:
    lines = [f"Tool: {tool.name}"]
    if tool.description:
        lines.append(f"Description: {tool.description}")
    if tool.parameters:
        lines.append("Parameters: " + orjson.dumps(tool.parameters).decode("utf-8"))
    return "\n".join(lines)


def when_rule(tool_choice: str, forced_tool: str | None) -> str:
    """The "when to call" rule for a neutral tool_choice (auto | none | required)."""
    if tool_choice == "none":
        return RULE_NONE
    if forced_tool:
        return RULE_FORCED.format(name=forced_tool)
    if tool_choice == "required":
        return RULE_REQUIRED
    return RULE_AUTO


def tool_block(tools: Sequence[ToolSpec], tool_choice: str = "auto",
               forced_tool: str | None = None) -> str:
    """The block text ("" without tools). With tool_choice "none" the definitions stay (the
    model may need to know them) but the format and calls are forbidden."""
    entries = [_entry(t) for t in tools if t.name]
    if not entries:
        return ""
    sections = [HEADING, "\n\n".join(entries)]
    if tool_choice != "none":
        sections.append(FORMAT_RULES)
    sections.append(when_rule(tool_choice, forced_tool))
    return "\n\n".join(sections)


def with_tool_block(prompt: str, request: ChatRequest) -> str:
    """`prompt` with the block prepended as `[system]: <block>` when the request declares tools."""
    block = tool_block(request.tools, request.tool_choice, request.forced_tool)
    return f"[system]: {block}\n\n{prompt}" if block else prompt
