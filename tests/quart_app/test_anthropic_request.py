import orjson
import pytest

from addons.errors import ApiError
from quart_app.dialects.anthropic_request import parse_messages_request
from tests.quart_app.helpers import Settings


def body(messages=None, **extra):
    return {"model": "grok-4.20-fast", "max_tokens": 1024,
            "messages": messages or [{"role": "user", "content": "hi"}], **extra}


def parse(payload, settings=None):
    return parse_messages_request(payload, settings or Settings())


def error(payload, settings=None) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(payload, settings)
    return info.value


TOOL_USE = {"role": "assistant", "content": [
    {"type": "thinking", "thinking": "hmm", "signature": "x"},
    {"type": "text", "text": "Let me look."},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}


def test_defaults_follow_settings_and_unknown_fields_are_ignored():
    req = parse(body(metadata={"user_id": "u"}, whatever=1, top_k=5), Settings(False, True))
    assert (req.stream, req.reasoning, req.tool_choice, req.tools) == (False, True, "auto", [])
    req = parse(body(), Settings(stream=True, thinking=False))
    assert (req.stream, req.reasoning) == (True, False)


@pytest.mark.parametrize("thinking,expected", [
    ({"type": "enabled", "budget_tokens": 2048}, True), ({"type": "disabled"}, False),
    ({"type": "adaptive"}, True)])
def test_thinking(thinking, expected):
    assert parse(body(thinking=thinking), Settings(thinking=not expected)).reasoning is expected


def test_system_string_blocks_and_system_role_inside_messages():
    req = parse(body(system=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                     messages=[{"role": "system", "content": "c"},
                               {"role": "user", "content": [{"type": "text", "text": "q1"},
                                                            {"type": "text", "text": "q2"}]}]))
    assert [(m.role, m.parts) for m in req.messages] == [
        ("system", ["a\nb"]), ("system", ["c"]), ("user", ["q1", "q2"])]
    assert parse(body(system="be brief")).messages[0].parts == ["be brief"]


def test_tool_use_and_tool_result_become_neutral_tool_messages():
    req = parse(body(messages=[
        {"role": "user", "content": "weather?"}, TOOL_USE,
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]},
            {"type": "text", "text": "thanks"}]}]))
    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    assistant = req.messages[1]
    assert assistant.parts == ["Let me look."]
    assert assistant.tool_calls == [{"id": "toolu_1", "name": "get_weather",
                                     "arguments": '{"city":"Paris"}'}]
    assert (req.messages[2].tool_call_id, req.messages[2].parts) == ("toolu_1", ["18C"])
    assert req.messages[3].parts == ["[error] x\ny"]
    assert req.messages[4].parts == ["thanks"]


def test_tools_and_tool_choice():
    tools = [{"name": "get_weather", "description": "d",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
             {"type": "web_search_20250305", "name": "web_search"}]
    req = parse(body(tools=tools))
    assert [(t.name, t.description, t.parameters["type"]) for t in req.tools] == [
        ("get_weather", "d", "object")]
    cases = {"auto": ("auto", None), "any": ("required", None), "none": ("none", None)}
    for kind, expected in cases.items():
        req = parse(body(tools=tools, tool_choice={"type": kind}))
        assert (req.tool_choice, req.forced_tool) == expected
    req = parse(body(tools=tools, tool_choice={"type": "tool", "name": "get_weather",
                                               "disable_parallel_tool_use": True}))
    assert (req.tool_choice, req.forced_tool, req.parallel_tool_calls) == (
        "required", "get_weather", False)


@pytest.mark.parametrize("blocks,param", [
    ([{"type": "video", "data": "x"}], "messages.0.content.0.type"),
    ([{"type": "text", "text": "a"}, {"text": "no type"}], "messages.0.content.1.type"),
    ([{"type": "tool_result", "tool_use_id": "toolu_none", "content": "x"}],
     "messages.0.content.0.tool_use_id"),
    ([{"type": "tool_use", "id": "t", "name": "f", "input": {}}], "messages.0.content.0.type"),
])
def test_d8_invalid_request_errors(blocks, param):
    err = error(body(messages=[{"role": "user", "content": blocks}]))
    assert (err.status, err.type, err.param) == (400, "invalid_request_error", param)


def test_tool_result_must_follow_its_tool_use():
    late = {**TOOL_USE, "content": [TOOL_USE["content"][2]]}
    err = error(body(messages=[
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}, late]))
    assert err.type == "invalid_request_error"


@pytest.mark.parametrize("block,param", [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "   "}},
     "messages.0.content.1.source.data"),
    ({"type": "image", "source": {"type": "url", "url": "ftp://example.org/a.png"}},
     "messages.0.content.1.source.url"),
    ({"type": "document", "source": {"type": "file", "file_id": "file_1"}},
     "messages.0.content.1.source.file_id"),
])
def test_bad_media_blocks_are_rejected_clearly(block, param):
    err = error(body(messages=[{"role": "user", "content": [{"type": "text", "text": "see"},
                                                            block]}]))
    assert (err.status, err.param) == (400, param)


@pytest.mark.parametrize("payload,param", [
    ({"model": "m", "messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    (body(messages=[{"role": "tool", "content": "x"}]), "messages.0.role"),
    (body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    (body(system=5), "system"),
    (body(thinking={"type": "sometimes"}), "thinking.type"),
    (body(temperature=1.5), "temperature"),
    (body(stream="yes"), "stream"),
    (body(tools=[{"description": "no name"}]), "tools.0.name"),
    (body(tool_choice={"type": "maybe"}), "tool_choice.type"),
    (body(tools=[{"name": "f"}], tool_choice={"type": "tool", "name": "g"}), "tool_choice.name"),
])
def test_validation_errors_name_the_param(payload, param):
    err = error(payload)
    assert (err.status, err.type, err.param) == (400, "validation_error", param)


def test_tool_use_input_is_compact_json():
    req = parse(body(messages=[{"role": "user", "content": "x"}, {
        "role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f",
                                          "input": {"k": [1, 2], "s": "é"}}]}]))
    assert orjson.loads(req.messages[1].tool_calls[0]["arguments"]) == {"k": [1, 2], "s": "é"}
