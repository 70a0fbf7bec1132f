"""The typed request models: errors name the dotted parameter, free-form JSON is bounded,
and the shapes real clients send stay accepted."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from quart_app.content_type import is_json
from quart_app.dialects.anthropic_request import parse_messages_request
from quart_app.dialects.openai_chat_request import parse_chat_request
from quart_app.dialects.responses_request import parse_responses_request
from quart_app.dialects.schema import MAX_JSON_DEPTH, check_json, check_json_each
from tests.quart_app.helpers import Settings


def nested(levels: int) -> dict:
    value: object = 1
    for _ in range(levels - 1):
        value = [value]
    return {"a": value}


def test_free_form_json_is_bounded_in_depth_and_integer_size():
    assert check_json(nested(MAX_JSON_DEPTH), "p")
    with pytest.raises(ApiError) as info:
        check_json(nested(MAX_JSON_DEPTH + 1), "tools.0.parameters")
    assert info.value.param == "tools.0.parameters" and "nested deeper" in info.value.message
    with pytest.raises(ApiError) as info:
        check_json({"n": 1 << 70}, "p")
    assert "integer" in info.value.message
    assert check_json({"n": (1 << 64) - 1, "m": -(1 << 63)}, "p")  # what JSON encoders write


def test_many_values_are_checked_at_once_and_the_bad_one_is_named():
    check_json_each([{}, nested(10)], "tools.{}".format)
    with pytest.raises(ApiError) as info:
        check_json_each([{}, {}, nested(MAX_JSON_DEPTH + 1)], "tools.{}".format)
    assert info.value.param == "tools.2"


@pytest.mark.parametrize("body,param,words", [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}, {"content": "y"}]},
     "messages.1.role", "required"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages.0.content.0.text", "expected a string"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}, "n", ">= 1"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 1.5}, "seed",
     "an integer"),
    ({"model": " ", "messages": [{"role": "user", "content": "x"}]}, "model", "model"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}],  # a name ends the markup
      "tools": [{"type": "function", "function": {"name": "f\n"}}]},
     "tools.0.function.name", "regex"),
])
def test_errors_name_the_dotted_parameter_in_words(body, param, words):
    with pytest.raises(ApiError) as info:
        parse_chat_request(body, Settings())
    err = info.value
    assert (err.status, err.type, err.param) == (400, "validation_error", param)
    assert param in err.message and words in err.message


def test_raw_bytes_and_decoded_json_parse_alike():
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
    assert parse_chat_request(raw, Settings()) == parse_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        Settings())
    with pytest.raises(ApiError) as info:
        parse_chat_request(b'{"model":', Settings())
    assert "not valid JSON" in info.value.message


@pytest.mark.parametrize("value,ok", [
    ("application/json", True), ("application/json; charset=utf-8", True),
    ("Application/JSON", True), ("application/vnd.api+json", True), (None, False),
    ("text/plain", False), ("application/x-www-form-urlencoded", False), ("", False)])
def test_json_content_types(value, ok):
    assert is_json(value) is ok


def test_what_the_openai_sdks_send_on_chat_stays_accepted():
    req = parse_chat_request({
        "model": "m", "messages": [
            {"role": "developer", "content": "be brief", "name": "x"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": None, "temperature": None, "top_p": 1, "n": 1, "max_tokens": None,
        "max_completion_tokens": 4096, "presence_penalty": 0, "frequency_penalty": 0,
        "logit_bias": {"50256": -100}, "logprobs": False, "top_logprobs": None, "seed": 42,
        "user": "u", "store": False, "metadata": {"k": "v"}, "modalities": ["text"],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "service_tier": "auto", "stop": None, "reasoning": {"effort": "high"},
        "prediction": {"type": "content", "content": "x"}, "web_search_options": {},
        "parallel_tool_calls": None, "tool_choice": None, "verbosity": "low",
    }, Settings(stream=False))
    assert req.stream is False and [m.role for m in req.messages] == ["developer", "user"]


def test_what_codex_sends_on_responses_stays_accepted():
    out = parse_responses_request({
        "model": "m", "instructions": "You are Codex.", "stream": True, "store": False,
        "parallel_tool_calls": False, "tool_choice": "auto", "include": [
            "reasoning.encrypted_content"], "prompt_cache_key": "k",
        "reasoning": {"effort": "medium", "summary": "auto"}, "text": {"verbosity": "medium"},
        "tools": [
            {"type": "function", "name": "shell", "description": "run", "strict": False,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "array"}}}},
            {"type": "local_shell"}, {"type": "web_search"},
            {"type": "custom", "name": "apply_patch", "description": "patch",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}],
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAA"},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "x"},
            {"type": "local_shell_call", "call_id": "c3", "action": {"type": "exec"}}],
    }, Settings())
    assert [t.name for t in out.chat.tools] == ["shell", "local_shell", "apply_patch"]
    assert out.echo["tools"][3]["format"]["syntax"] == "lark"  # echoed as sent


def test_what_claude_code_sends_on_messages_stays_accepted():
    cache = {"type": "ephemeral"}
    req = parse_messages_request({
        "model": "m", "max_tokens": 32000, "temperature": 1, "stream": True,
        "metadata": {"user_id": "user_abc"}, "thinking": {"type": "enabled", "budget_tokens": 31999},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": cache}],
        "tools": [{"name": "Bash", "description": "run", "input_schema": {
            "type": "object", "properties": {"command": {"type": "string"}},
            "required": ["command"], "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#"}, "cache_control": cache},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "ls", "cache_control": cache}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": [{"type": "text", "text": "a.txt"}],
                                          "cache_control": cache}]}],
    }, Settings())
    assert [t.name for t in req.tools] == ["Bash"] and req.stream and req.reasoning
