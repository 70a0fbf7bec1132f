import pytest

from addons.errors import ApiError
from quart_app.dialects.openai_chat_request import parse_chat_request
from tests.quart_app.helpers import Settings


def body(**extra):
    return {"model": "grok-4.20-fast", "messages": [{"role": "user", "content": "hi"}], **extra}


def error(payload, settings=None):
    with pytest.raises(ApiError) as info:
        parse_chat_request(payload, settings or Settings())
    return info.value


def test_defaults_follow_settings():
    req = parse_chat_request(body(), Settings(stream=False, thinking=True))
    assert (req.stream, req.reasoning, req.include_usage) == (False, True, False)
    req = parse_chat_request(body(), Settings(stream=True, thinking=False))
    assert (req.stream, req.reasoning) == (True, False)


@pytest.mark.parametrize("effort,expected", [("none", False), ("low", True), ("xhigh", True)])
def test_reasoning_effort(effort, expected):
    assert parse_chat_request(body(reasoning_effort=effort), Settings()).reasoning is expected


def test_legacy_thinking_field_when_effort_absent():
    assert parse_chat_request(body(thinking="disabled"), Settings()).reasoning is False


def test_parts_and_unknown_fields():
    req = parse_chat_request({
        "model": "m", "n": 3, "seed": 1, "response_format": {"type": "text"},
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": [{"type": "text", "text": "a"},
                                                  {"type": "text", "text": "b"}]},
                     {"role": "assistant", "content": None,
                      "tool_calls": [{"id": "c1", "type": "function",
                                      "function": {"name": "f", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "c1", "content": "42"}],
        "stream_options": {"include_usage": True}, "stream": True,
    }, Settings())
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[1].parts == ["a", "b"]
    assert req.messages[3].tool_call_id == "c1"
    assert req.include_usage and req.stream


@pytest.mark.parametrize("payload,param", [
    (body(temperature=3), "temperature"),
    (body(top_p=-0.1), "top_p"),
    (body(temperature="hot"), "temperature"),
    (body(reasoning_effort="max"), "reasoning_effort"),
    (body(stream="yes"), "stream"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    (body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
    (body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    (body(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages.0.content.0.type"),
    (body(stream_options={"include_usage": "y"}), "stream_options.include_usage"),
])
def test_validation_errors_name_the_param(payload, param):
    err = error(payload)
    assert (err.status, err.type, err.param) == (400, "validation_error", param)


def test_body_must_be_an_object():
    assert error([1, 2]).status == 400
