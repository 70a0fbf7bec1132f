"""The tool-call markup parser: the taught `<tool_calls>` markup and other formats models use."""
from __future__ import annotations

import orjson
import pytest

from addons.tools.parse import ParsedCall, load_json, parse_tool_calls

NAMES = {"get_weather", "write_file", "search"}


def block(*calls: tuple[str, str]) -> str:
    inner = "".join(f"\n  <tool_call>\n    <tool_name>{n}</tool_name>\n    <parameters>{a}</parameters>\n  </tool_call>"
                    for n, a in calls)
    return f"<tool_calls>{inner}\n</tool_calls>"


def test_canonical_single_call():
    assert parse_tool_calls(block(("get_weather", '{"city": "Paris", "unit": "c"}')), NAMES) == [
        ParsedCall("get_weather", '{"city":"Paris","unit":"c"}')]


def test_multi_line_arguments_with_raw_newlines():
    """chenyme/grok2api#557: write-style tools get multi-line JSON, raw newlines in strings."""
    args = '{\n  "path": "a.py",\n  "content": "def f():\n\treturn 1\n",\n}'
    calls = parse_tool_calls(block(("write_file", args)), NAMES)
    assert len(calls) == 1
    assert orjson.loads(calls[0].arguments) == {"path": "a.py", "content": "def f():\n\treturn 1\n"}


def test_fences_whitespace_case_and_cdata():
    text = ('Sure.\n```xml\n<TOOL_CALLS>\n<Tool_Call >\n<tool_name> search </tool_name>\n'
            '<parameters>\n```json\n{"q": "x"}\n```\n</parameters></tool_call></tool_calls>\n```')
    assert parse_tool_calls(text, NAMES) == [ParsedCall("search", '{"q":"x"}')]
    cdata = block(("search", '<![CDATA[{"q": "a < b"}]]>'))
    assert parse_tool_calls(cdata, NAMES) == [ParsedCall("search", '{"q":"a < b"}')]


def test_several_calls_and_parallel_off():
    text = block(("get_weather", '{"city":"Paris"}'), ("search", '{"q":"x"}'))
    assert [c.name for c in parse_tool_calls(text, NAMES)] == ["get_weather", "search"]
    assert [c.name for c in parse_tool_calls(text, NAMES, parallel=False)] == ["get_weather"]


def test_undeclared_name_is_not_a_call():
    assert parse_tool_calls(block(("rm_rf", "{}")), NAMES) == []
    assert parse_tool_calls(block(("Search", "{}")), NAMES) == []  # case-sensitive
    mixed = block(("rm_rf", "{}"), ("search", '{"q":1}'))
    assert parse_tool_calls(mixed, NAMES) == [ParsedCall("search", '{"q":1}')]


def test_bad_json_arguments_drop_the_call():
    assert parse_tool_calls(block(("search", '{"q": nope')), NAMES) == []
    assert parse_tool_calls(block(("search", '["not", "an", "object"]')), NAMES) == []
    good_and_bad = block(("search", "{oops"), ("get_weather", '{"city":"Oslo"}'))
    assert parse_tool_calls(good_and_bad, NAMES) == [ParsedCall("get_weather", '{"city":"Oslo"}')]


def test_missing_or_empty_parameters_mean_no_arguments():
    text = "<tool_calls><tool_call><tool_name>search</tool_name></tool_call></tool_calls>"
    assert parse_tool_calls(text, NAMES) == [ParsedCall("search", "{}")]
    assert parse_tool_calls(block(("search", "  ")), NAMES) == [ParsedCall("search", "{}")]


def test_unclosed_block_at_end_of_stream():
    text = '<tool_calls><tool_call><tool_name>search</tool_name><parameters>{"q":"x"}'
    assert parse_tool_calls(text, NAMES) == [ParsedCall("search", '{"q":"x"}')]


@pytest.mark.parametrize("text", [
    '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>',  # legacy
    '<tool_call>{"name": "search", "arguments": "{\\"q\\": \\"x\\"}"}</tool_call>',
    '{"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}',
    '```json\n[{"tool_name": "search", "parameters": {"q": "x"}}]\n```',
    '{"tool_calls": [{"type": "function", "function": {"name": "search", "arguments": "{\\"q\\":\\"x\\"}"}}]}',
    '<function_call><name>search</name><arguments>{"q": "x"}</arguments></function_call>',
    '<invoke name="search">{"q": "x"}</invoke>',
])
def test_other_formats(text):
    assert parse_tool_calls(text, NAMES) == [ParsedCall("search", '{"q":"x"}')]


def test_plain_text_is_not_a_call():
    for text in ("a < b", "Use <tool_calls> to call tools.", '{"a": 1}', "[1, 2]", ""):
        assert parse_tool_calls(text, NAMES) == []
    assert parse_tool_calls(block(("search", "{}")), set()) == []


def test_repair_keeps_valid_json_and_fixes_backslashes():
    assert load_json('{"a": "x\\ny"}') == {"a": "x\ny"}
    assert load_json('{"path": "C:\\dir\\sub"}') == {"path": "C:\\dir\\sub"}
    with pytest.raises(ValueError):
        load_json("{not json}")
