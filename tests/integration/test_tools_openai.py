"""Prompt-emulated tool calling end to end: the official openai client, the gateway and
the simulator answering with tool-call markup cut into tiny tokens."""
from __future__ import annotations

import json

import openai
import pytest

from addons.tools.prompt import RULE_NONE
from ops.simulator.content import encode_say
from tests.integration.sse_client import chunks, read_sse

MODEL = "grok-4.20-fast"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}


def markup(*calls: tuple[str, str]) -> str:
    inner = "".join(f"\n  <tool_call>\n    <tool_name>{n}</tool_name>\n    <parameters>{a}</parameters>\n  </tool_call>"
                    for n, a in calls)
    return f"<tool_calls>{inner}\n</tool_calls>"


PARIS = markup(("get_weather", '{"city": "Paris",\n  "unit": "c"}'))


def say(text: str, chunk: int = 3) -> list[dict]:
    return [{"role": "user", "content": f"Weather? [[sim say={encode_say(text)} chunk={chunk}]]"}]


def sent_message(stack) -> str:
    return stack.last_chat().message


async def started(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    return stack.openai()


async def test_non_stream_tool_call(stack):
    client = await started(stack)
    r = await client.chat.completions.create(model=MODEL, messages=say(PARIS), tools=[WEATHER, SEARCH])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Paris","unit":"c"}'
    prompt = sent_message(stack)
    assert prompt.startswith("[system]: # Tools")
    assert "Tool: get_weather\nDescription: Current weather of a city\nParameters: {" in prompt
    assert "Tool: search" in prompt and "<tool_calls>" in prompt
    assert prompt.endswith("\n\n[user]: " + say(PARIS)[0]["content"])


@pytest.mark.parametrize("chunk", [1, 2, 3])
async def test_stream_tool_call_split_into_tiny_tokens(stack, chunk):
    client = await started(stack)
    answer = "Let me check.\n```xml\n" + PARIS + "\n```\nI called it."
    stream = await client.chat.completions.create(
        model=MODEL, messages=say(answer, chunk), tools=[WEATHER], stream=True)
    text, calls, finishes = [], [], []
    async for c in stream:
        if not c.choices:
            continue
        delta = c.choices[0].delta
        text.append(delta.content or "")
        calls.extend(delta.tool_calls or [])
        if c.choices[0].finish_reason:
            finishes.append(c.choices[0].finish_reason)
    assert "".join(text) == "Let me check.\n"
    assert finishes == ["tool_calls"]
    assert [(t.index, t.type, t.function.name) for t in calls] == [(0, "function", "get_weather")]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "c"}
    assert calls[0].id.startswith("call_")


async def test_stream_wire_format_of_a_tool_call(stack):
    await started(stack)
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
                "model": MODEL, "messages": say(PARIS, 2), "tools": [WEATHER], "stream": True}) as resp:
            frames = await read_sse(resp)
    assert frames[-1] == ("data", "[DONE]")
    body = [c for c in chunks(frames) if c["choices"]]
    tool_chunks = [c for c in body if "tool_calls" in c["choices"][0]["delta"]]
    assert len(tool_chunks) == 1
    delta = tool_chunks[0]["choices"][0]["delta"]
    assert "content" not in delta and tool_chunks[0]["choices"][0]["finish_reason"] is None
    (tc,) = delta["tool_calls"]
    assert tc["index"] == 0 and tc["type"] == "function" and tc["id"].startswith("call_")
    assert tc["function"] == {"name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}
    assert all(not c["choices"][0]["delta"].get("content") for c in body)
    assert body[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_calls_are_indexed(stack, stream):
    client = await started(stack)
    answer = markup(("get_weather", '{"city":"Paris"}'), ("search", '{"q":"louvre"}'))
    kw = dict(model=MODEL, messages=say(answer, 2), tools=[WEATHER, SEARCH])
    if stream:
        calls = []
        async for c in await client.chat.completions.create(stream=True, **kw):
            if c.choices:
                calls.extend(c.choices[0].delta.tool_calls or [])
        got = [(t.index, t.function.name, t.function.arguments) for t in calls]
        ids = [t.id for t in calls]
    else:
        r = await client.chat.completions.create(**kw)
        got = [(i, t.function.name, t.function.arguments) for i, t in enumerate(r.choices[0].message.tool_calls)]
        ids = [t.id for t in r.choices[0].message.tool_calls]
    assert got == [(0, "get_weather", '{"city":"Paris"}'), (1, "search", '{"q":"louvre"}')]
    assert len(set(ids)) == 2
    r = await client.chat.completions.create(parallel_tool_calls=False, **kw)
    assert [t.function.name for t in r.choices[0].message.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("stream", [False, True])
async def test_undeclared_function_is_plain_text(stack, stream):
    client = await started(stack)
    answer = "Sure: " + markup(("launch_rockets", '{"n":3}'))
    kw = dict(model=MODEL, messages=say(answer, 2), tools=[WEATHER])
    if stream:
        text, finish = [], None
        async for c in await client.chat.completions.create(stream=True, **kw):
            if c.choices:
                assert not c.choices[0].delta.tool_calls
                text.append(c.choices[0].delta.content or "")
                finish = c.choices[0].finish_reason or finish
        assert "".join(text) == answer and finish == "stop"
    else:
        r = await client.chat.completions.create(**kw)
        assert r.choices[0].message.content == answer and not r.choices[0].message.tool_calls
        assert r.choices[0].finish_reason == "stop"


async def test_tool_choice_none_forbids_calls(stack):
    """tool_choice none: definitions stay in the prompt, calls are forbidden, markup is text."""
    client = await started(stack)
    r = await client.chat.completions.create(
        model=MODEL, messages=say(PARIS), tools=[WEATHER], tool_choice="none")
    assert r.choices[0].message.content == PARIS and r.choices[0].finish_reason == "stop"
    prompt = sent_message(stack)
    assert prompt.startswith("[system]: # Tools") and "Tool: get_weather" in prompt
    assert RULE_NONE in prompt and "<tool_name>" not in prompt


async def test_no_tools_no_block(stack):
    client = await started(stack)
    await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert sent_message(stack) == "[user]: hi"


async def test_forced_and_required_choices_reach_the_prompt(stack):
    client = await started(stack)
    await client.chat.completions.create(model=MODEL, messages=say(PARIS), tools=[WEATHER, SEARCH],
                                         tool_choice={"type": "function", "function": {"name": "search"}})
    assert "You MUST call the tool `search`" in sent_message(stack)
    await client.chat.completions.create(model=MODEL, messages=say(PARIS), tools=[WEATHER],
                                         tool_choice="required")
    assert "You MUST call at least one tool" in sent_message(stack)


async def test_tool_result_round_trip(stack):
    client = await started(stack)
    r = await client.chat.completions.create(model=MODEL, tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_abc", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18°C, sunny"},
        {"role": "user", "content": "[[sim tokens=2]]"},
    ])
    assert r.choices[0].message.content == "w0 w1 " and r.choices[0].finish_reason == "stop"
    prompt = sent_message(stack)
    history = prompt[prompt.index("\n\n[user]: Weather in Paris?"):]
    assert history == (
        "\n\n[user]: Weather in Paris?\n\n"
        "[assistant]:\n<tool_calls>\n  <tool_call>\n    <tool_name>get_weather</tool_name>\n"
        '    <parameters>{"city":"Paris"}</parameters>\n  </tool_call>\n</tool_calls>\n\n'
        "[tool result for call_abc]:\n18°C, sunny\n\n[user]: [[sim tokens=2]]")


@pytest.mark.parametrize("extra,param", [
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": [{"type": "retrieval"}]}, "tools.0.type"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools.0.function.name"),
    ({"tools": [{"type": "function"}]}, "tools.0.function"),
    ({"tools": [WEATHER, {"type": "function", "function": {"name": "x", "parameters": "nope"}}]},
     "tools.1.function.parameters"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "search"}}}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
     "messages.0.tool_calls.0.function.name"),
])
async def test_bad_tools_are_400(stack, extra, param):
    client = await started(stack)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(**body)
    err = info.value.body
    assert info.value.status_code == 400 and err["param"] == param and err["type"] == "validation_error"
    assert stack.chat_attempts() == []
