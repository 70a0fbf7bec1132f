"""The tool description block and its place in the flattened upstream prompt."""
from __future__ import annotations

from addons.flow import ChatRequest, Flow, Message, ToolSpec
from addons.tools.prompt import RULE_AUTO, RULE_NONE, RULE_REQUIRED, tool_block, with_tool_block
from addons.upstream_request import UpstreamRequestBuilder

WEATHER = ToolSpec("get_weather", "Current weather of a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
WRITE = ToolSpec("write_file", "", {})


def test_block_lists_every_tool_with_compact_schema():
    block = tool_block([WEATHER, WRITE])
    assert block.index("Tool: get_weather") < block.index("Tool: write_file")
    assert "Description: Current weather of a city" in block
    assert ('Parameters: {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}'
            in block)
    # no description / parameters lines for a tool without them
    after = block[block.index("Tool: write_file"):].split("\n\n")[0]
    assert after == "Tool: write_file"
    assert "<tool_calls>" in block and "<tool_name>" in block and "<parameters>" in block
    assert "```" in block  # the "wrong" example
    assert block.endswith(RULE_AUTO)


def test_when_rule_follows_tool_choice():
    assert tool_block([WEATHER], "required").endswith(RULE_REQUIRED)
    forced = tool_block([WEATHER, WRITE], "required", "write_file")
    assert "MUST call the tool `write_file`" in forced
    none = tool_block([WEATHER], "none")
    # tool_choice none: the definitions stay, calls are forbidden and the format is not taught
    assert "Tool: get_weather" in none and none.endswith(RULE_NONE)
    assert "<tool_name>" not in none and "<parameters>" not in none


def test_no_tools_no_block():
    assert tool_block([]) == ""
    req = ChatRequest(model="m", messages=[])
    assert with_tool_block("[user]: hi", req) == "[user]: hi"


def test_builder_prepends_block_as_system():
    req = ChatRequest(model="m", messages=[Message("user", ["hi"])], tools=[WEATHER])
    flow = Flow(req)
    UpstreamRequestBuilder(settings=None).request(flow)
    assert flow.prompt.startswith("[system]: # Tools")
    assert flow.prompt.endswith("\n\n[user]: hi")
    assert flow.prompt == f"[system]: {tool_block([WEATHER])}\n\n[user]: hi"
