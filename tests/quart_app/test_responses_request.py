import pytest

from addons.errors import ApiError
from addons.upstream.prompt import flatten
from quart_app.dialects.responses_request import parse_responses_request
from tests.quart_app.helpers import Settings


def body(**extra):
    return {"model": "grok-4.20-fast", "input": "hi", **extra}


def parse(payload, settings=None):
    return parse_responses_request(payload, settings or Settings())


def error(payload, settings=None) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(payload, settings)
    assert info.value.status == 400 and info.value.type == "validation_error"
    return info.value


def test_string_input_and_defaults_follow_settings():
    req = parse(body(), Settings(stream=False, thinking=True)).chat
    assert (req.stream, req.reasoning, req.tool_choice, req.tools) == (False, True, "auto", [])
    assert flatten(req.messages) == "[user]: hi"
    req = parse(body(), Settings(stream=True, thinking=False)).chat
    assert (req.stream, req.reasoning) == (True, False)
    assert parse(body(stream=False), Settings(stream=True)).chat.stream is False


@pytest.mark.parametrize("reasoning,expected", [
    ({"effort": "none"}, False), ({"effort": "low"}, True), ({"effort": "xhigh"}, True),
    ({}, True), ({"summary": "auto"}, True)])
def test_reasoning_object(reasoning, expected):
    assert parse(body(reasoning=reasoning), Settings(thinking=False)).chat.reasoning is expected


def test_instructions_and_item_array_are_flattened():
    req = parse({"model": "m", "instructions": "Be brief.", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"type": "reasoning", "summary": []},
        {"type": "something_new", "x": 1},
        {"role": "user", "content": "What is 2+2?"},
    ]}).chat
    assert flatten(req.messages) == (
        "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?")


def test_function_call_round_trip():
    req = parse({"model": "m", "input": [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": "{\"city\": \"Paris\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather",
         "arguments": "{\"city\":\"Rome\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "21C"}]},
    ]}).chat
    assistant = req.messages[1]
    assert assistant.role == "assistant"
    assert [c["id"] for c in assistant.tool_calls] == ["call_1", "call_2"]
    assert [(m.role, m.tool_call_id, m.parts) for m in req.messages[2:]] == [
        ("tool", "call_1", ["18C"]), ("tool", "call_2", ["21C"])]
    text = flatten(req.messages)
    assert "<tool_name>get_weather</tool_name>" in text
    assert '<parameters>{"city":"Paris"}</parameters>' in text
    assert "[tool result for call_1]:\n18C" in text and "[tool result for call_2]:\n21C" in text


def test_tools_flat_nested_and_builtins():
    out = parse(body(tools=[
        {"type": "function", "name": "get_weather", "description": "Weather",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"type": "function", "function": {"name": "nested", "parameters": {"type": "object"}}},
        {"type": "web_search_preview"},
        {"type": "web_search"},
        {"type": "code_interpreter", "container": {"type": "auto"}},
    ]))
    tools = out.chat.tools
    assert [t.name for t in tools] == ["get_weather", "nested", "code_interpreter"]
    assert tools[0].description == "Weather" and tools[0].parameters["type"] == "object"
    assert out.echo["tools"][0]["name"] == "get_weather"


@pytest.mark.parametrize("choice,expected", [
    ("auto", ("auto", None)), ("none", ("none", None)), ("required", ("required", None)),
    ({"type": "function", "name": "f"}, ("required", "f")),
    ({"type": "function", "function": {"name": "g"}}, ("required", "g")),
    ({"type": "allowed_tools", "tools": []}, ("auto", None)),
])
def test_tool_choice_forms(choice, expected):
    req = parse(body(tool_choice=choice)).chat
    assert (req.tool_choice, req.forced_tool) == expected


def test_ignored_fields():
    out = parse(body(previous_response_id="resp_x", store=True, max_output_tokens=5,
                     truncation="auto", include=["x"], background=False, text={"format": {}},
                     user="u", whatever={"x": 1}, parallel_tool_calls=False))
    assert out.chat.parallel_tool_calls is False
    assert out.chat.previous_response_id == out.echo["previous_response_id"] == "resp_x"
    assert out.chat.store is True and out.echo["store"] is True


@pytest.mark.parametrize("extra,store", [({}, True), ({"store": True}, True),
                                         ({"store": False}, False), ({"store": None}, True)])
def test_store_defaults_to_true(extra, store):
    out = parse(body(**extra))
    assert out.chat.store is store and out.chat.previous_response_id is None
    assert out.echo["previous_response_id"] is None


@pytest.mark.parametrize("payload,param", [
    ({"input": "hi"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": ""}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": ["x"]}, "input.0"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input.0.role"),
    ({"model": "m", "input": [{"role": "user", "content": 3}]}, "input.0.content"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
     "input.0.content.0.text"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "bogus"}]}]},
     "input.0.content.0.type"),
    ({"model": "m", "input": [{"type": "function_call", "name": "f"}]}, "input.0.call_id"),
    ({"model": "m", "input": [{"type": "function_call", "call_id": "c"}]}, "input.0.name"),
    ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
     "input.0.call_id"),
    ({"model": "m", "input": "hi", "instructions": 3}, "instructions"),
    ({"model": "m", "input": "hi", "store": "yes"}, "store"),
    ({"model": "m", "input": "hi", "previous_response_id": 5}, "previous_response_id"),
    ({"model": "m", "input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": "m", "input": "hi", "reasoning": "high"}, "reasoning"),
    ({"model": "m", "input": "hi", "temperature": 3}, "temperature"),
    ({"model": "m", "input": "hi", "top_p": -1}, "top_p"),
    ({"model": "m", "input": "hi", "stream": "yes"}, "stream"),
    ({"model": "m", "input": "hi", "tools": {}}, "tools"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function"}]}, "tools.0.name"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f",
                                               "parameters": []}]}, "tools.0.parameters"),
    ({"model": "m", "input": "hi", "tool_choice": {"type": "function"}}, "tool_choice.name"),
])
def test_rejections_name_the_param(payload, param):
    assert error(payload).param == param


@pytest.mark.parametrize("part,param", [
    ({"type": "input_image", "image_url": "iVBORw0KGgo="}, "input.0.content.1.image_url"),
    ({"type": "input_file", "file_data": "JVBERi0="}, "input.0.content.1.file_data"),
])
def test_raw_base64_media_parts_are_rejected_clearly(part, param):
    err = error({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "look"}, part]}]})
    assert err.param == param and "URL or data URI" in err.message and param in err.message
