"""/v1/responses end to end with the official openai client."""
from __future__ import annotations

import json

import openai
import pytest

from ops.simulator.content import answer_tokens
from tests.integration.sse_client import read_sse

DEFAULT_ANSWER = "Hello from the grok simulator."


def last_prompt(stack) -> str:
    return stack.last_chat().message


def collapse(types: list[str]) -> list[str]:
    """Runs of one delta type become `<type>*`, so sequences compare exactly."""
    out: list[str] = []
    for t in types:
        t = t + "*" if t.endswith(".delta") else t
        if not (out and out[-1] == t and t.endswith("*")):
            out.append(t)
    return out


REASONING = ["response.output_item.added", "response.reasoning_summary_part.added",
             "response.reasoning_summary_text.delta*", "response.reasoning_summary_text.done",
             "response.reasoning_summary_part.done", "response.output_item.done"]
MESSAGE = ["response.output_item.added", "response.content_part.added",
           "response.output_text.delta*", "response.output_text.done",
           "response.content_part.done", "response.output_item.done"]


async def test_non_stream_text_with_reasoning(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().responses.create(model="grok-4.20-auto", input="hi")
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.output_text == DEFAULT_ANSWER
    rs, msg = r.output
    assert rs.type == "reasoning" and rs.id.startswith("rs_")
    assert "Thinking step 0." in rs.summary[0].text
    assert msg.type == "message" and msg.id.startswith("msg_") and msg.role == "assistant"
    assert msg.content[0].type == "output_text" and msg.content[0].text == DEFAULT_ANSWER
    u = r.usage
    assert u.input_tokens > 0 and u.output_tokens > u.output_tokens_details.reasoning_tokens > 0
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0
    assert last_prompt(stack) == "[user]: hi"


async def test_non_stream_reasoning_off(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().responses.create(
        model="grok-4.20-auto", input="hi", reasoning={"effort": "none"})
    assert [item.type for item in r.output] == ["message"]
    assert r.output_text == DEFAULT_ANSWER


async def test_stream_event_sequence_and_ids(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stream = await stack.openai().responses.create(
        model="grok-4.20-auto", input="[[sim tokens=4]]", stream=True)
    events = [ev async for ev in stream]
    types = [ev.type for ev in events]
    assert collapse(types) == ["response.created", "response.in_progress", *REASONING, *MESSAGE,
                               "response.completed"]
    assert types.count("response.output_text.delta") >= 1  # tokens read together share one
    text = "".join(ev.delta for ev in events if ev.type == "response.output_text.delta")
    assert text == events[-1].response.output_text == "".join(answer_tokens(4))
    assert [ev.sequence_number for ev in events] == list(range(len(events)))
    created, completed = events[0].response, events[-1].response
    assert created.id == completed.id and created.id.startswith("resp_")
    added = [ev.item for ev in events if ev.type == "response.output_item.added"]
    done = [ev.item for ev in events if ev.type == "response.output_item.done"]
    assert [i.id for i in added] == [i.id for i in done] == [i.id for i in completed.output]
    assert [i.type for i in completed.output] == ["reasoning", "message"]
    text = "".join(ev.delta for ev in events if ev.type == "response.output_text.delta")
    assert text == "".join(answer_tokens(4)) == completed.output_text
    assert completed.usage.total_tokens > 0


async def test_stream_reasoning_off_wire_format(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    async with stack.http() as http:
        async with http.post("/v1/responses", json={
                "model": "grok-4.20-auto", "input": "[[sim tokens=2]]", "stream": True,
                "reasoning": {"effort": "none"}}) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            frames = await read_sse(resp)
    assert frames[0] == ("comment", "ping") and frames[-1] == ("data", "[DONE]")
    named = [(k, json.loads(p)) for k, p in frames if k not in ("comment", "data")]
    assert all(p["type"] == k for k, p in named)
    assert collapse([k for k, _ in named]) == ["response.created", "response.in_progress",
                                              *MESSAGE, "response.completed"]


async def test_instructions_and_item_array_are_flattened(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().responses.create(
        model="grok-4.20-fast", instructions="Be brief.", previous_response_id="resp_ignored",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hello!"}]},
            {"role": "user", "content": "What is 2+2?"},
        ])
    assert r.output_text == DEFAULT_ANSWER
    assert last_prompt(stack) == (
        "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?")


async def test_function_call_round_trip_is_flattened(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    await stack.openai().responses.create(model="grok-4.20-fast", input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": "{\"city\": \"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    ])
    assert last_prompt(stack) == (
        "[user]: Weather in Paris?\n\n[assistant]:\n<tool_calls>\n  <tool_call>\n"
        "    <tool_name>get_weather</tool_name>\n    <parameters>{\"city\":\"Paris\"}</parameters>\n"
        "  </tool_call>\n</tool_calls>\n\n[tool result for call_1]:\n18C")


@pytest.mark.parametrize("kwargs,param", [
    ({"input": []}, "input"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input.0.role"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "iVBORw0KGgo="}]}]}, "input.0.content.0.image_url"),
    ({"input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"input": "hi", "temperature": 3}, "temperature"),
])
async def test_bad_input_is_bad_request(stack, kwargs, param):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().responses.create(model="grok-4.20-fast", **kwargs)
    assert info.value.body["param"] == param and info.value.body["type"] == "validation_error"
    assert stack.chat_attempts() == []


async def test_unknown_model_and_no_account_are_plain_errors_even_when_streaming(stack):
    await stack.start_gateway()
    client = stack.openai()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="grok-9", input="hi", stream=True)
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model="grok-4.20-fast", input="hi", stream=True)


async def test_failure_after_first_byte_is_error_then_response_failed(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stream = await stack.openai().responses.create(
        model="grok-4.20-fast", input="[[sim tokens=6 fault=inband_mid]]", stream=True)
    events = [ev async for ev in stream]
    types = [ev.type for ev in events]
    assert types[-2:] == ["error", "response.failed"]
    assert "response.completed" not in types and "response.output_text.delta" in types
    assert events[-1].response.status == "failed" and events[-1].response.error.message


# ---- function calls through the same tool sieve as chat --------------------------------
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL_MARKUP = ("<tool_calls>\n  <tool_call>\n    <tool_name>get_weather</tool_name>\n"
               "    <parameters>{\"city\": \"Paris\"}</parameters>\n  </tool_call>\n</tool_calls>")
CALL = ["response.output_item.added", "response.function_call_arguments.delta*",
        "response.function_call_arguments.done", "response.output_item.done"]


def say(text: str) -> str:
    from ops.simulator.content import encode_say

    return f"Weather in Paris? [[sim say={encode_say(text)} chunk=2]]"


async def test_function_call_non_stream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().responses.create(
        model="grok-4.20-fast", input=say(CALL_MARKUP), tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"})
    assert r.status == "completed" and r.output_text == ""
    (fc,) = r.output
    assert fc.type == "function_call" and fc.id.startswith("fc_") and fc.call_id.startswith("call_")
    assert (fc.name, json.loads(fc.arguments), fc.status) == ("get_weather", {"city": "Paris"}, "completed")
    prompt = last_prompt(stack)
    assert prompt.startswith("[system]: ") and "Tool: get_weather" in prompt
    assert "You MUST call the tool `get_weather`" in prompt


async def test_function_call_stream_ids_match_completed(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stream = await stack.openai().responses.create(
        model="grok-4.20-fast", input=say(CALL_MARKUP), tools=[WEATHER], stream=True)
    events = [ev async for ev in stream]
    assert collapse([ev.type for ev in events]) == [
        "response.created", "response.in_progress", *CALL, "response.completed"]
    added, done = events[2].item, events[-2].item
    (fc,) = events[-1].response.output
    assert added.id == done.id == fc.id and added.call_id == done.call_id == fc.call_id
    assert json.loads(fc.arguments) == {"city": "Paris"} and added.arguments == ""


async def test_markup_with_tool_choice_none_stays_text(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().responses.create(
        model="grok-4.20-fast", input=say(CALL_MARKUP), tools=[WEATHER], tool_choice="none")
    assert [i.type for i in r.output] == ["message"] and r.output_text == CALL_MARKUP
