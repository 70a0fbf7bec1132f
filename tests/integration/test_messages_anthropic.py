"""/v1/messages and /v1/messages/count_tokens end to end with the official anthropic client."""
from __future__ import annotations

import asyncio

import anthropic
import pytest

DEFAULT_ANSWER = "Hello from the grok simulator."
RAW_EVENTS = {"message_start", "message_delta", "message_stop", "content_block_start",
              "content_block_delta", "content_block_stop"}


def client(stack, api_key: str = "unused") -> anthropic.AsyncAnthropic:
    c = anthropic.AsyncAnthropic(base_url=stack.url, api_key=api_key, max_retries=0)
    stack.clients.append(c)
    return c


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def test_create_text_with_reasoning_off(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    msg = await client(stack).messages.create(
        model="grok-4.20-auto", max_tokens=1024, messages=user("hi"), system="Be brief.",
        thinking={"type": "disabled"})
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == "grok-4.20-auto"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == DEFAULT_ANSWER
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert stack.last_chat().message == "[system]: Be brief.\n\n[user]: hi"


async def test_create_with_thinking(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    msg = await client(stack).messages.create(
        model="grok-4.20-auto", max_tokens=1024, messages=user("hi"),
        thinking={"type": "enabled", "budget_tokens": 2048})
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert "Thinking step 0." in msg.content[0].thinking and msg.content[0].signature
    assert msg.content[1].text == DEFAULT_ANSWER
    assert msg.usage.output_tokens > 0


async def test_stream_with_thinking_event_order(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    events = []
    async with client(stack).messages.stream(
            model="grok-4.20-auto", max_tokens=1024, messages=user("hi"),
            thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        async for event in stream:
            if event.type in RAW_EVENTS:
                delta = getattr(event, "delta", None)
                events.append(f"{event.type}:{getattr(delta, 'type', '')}"
                              if event.type == "content_block_delta" else event.type)
        final = await stream.get_final_message()
    # collapse runs of identical deltas: their count depends on the simulator's chunking
    order = [e for i, e in enumerate(events) if i == 0 or e != events[i - 1]]
    assert order == [
        "message_start",
        "content_block_start", "content_block_delta:thinking_delta",
        "content_block_delta:signature_delta", "content_block_stop",
        "content_block_start", "content_block_delta:text_delta", "content_block_stop",
        "message_delta", "message_stop"]
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == DEFAULT_ANSWER
    assert "Thinking step 0." in final.content[0].thinking
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


async def test_stream_wire_has_event_lines_and_ping(stack):
    from tests.integration.sse_client import read_sse

    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    async with stack.http() as http:
        async with http.post("/v1/messages", headers={"anthropic-version": "2023-06-01"}, json={
                "model": "grok-4.20-fast", "max_tokens": 10, "messages": user("hi"),
                "stream": True}) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            frames = await read_sse(resp)
    names = [kind for kind, _ in frames]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "message_stop"
    assert "data" not in names and "comment" not in names


async def test_count_tokens_matches_the_usage_of_a_call(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    c = client(stack)
    kw = {"model": "grok-4.20-fast", "system": "You are terse.",
          "messages": user("How many tokens is this sentence, roughly?")}
    counted = await c.messages.count_tokens(**kw)
    assert stack.chat_attempts() == []
    msg = await c.messages.create(max_tokens=64, **kw)
    assert counted.input_tokens == msg.usage.input_tokens > 0
    with_tools = await c.messages.count_tokens(tools=[{
        "name": "lookup", "description": "Look a word up", "input_schema": {"type": "object"}}], **kw)
    assert with_tools.input_tokens > counted.input_tokens  # the tool block is counted
    with pytest.raises(anthropic.BadRequestError):
        await c.messages.count_tokens(model="grok-9", messages=user("x"))


async def test_x_api_key_auth(stack):
    await stack.start_gateway(GROK_APP_API_KEY="k")
    stack.add_account("tok-a", "basic")
    async with stack.http() as http:
        async with http.post("/v1/messages", json={
                "model": "grok-4.20-fast", "max_tokens": 10, "messages": user("hi")}) as resp:
            assert resp.status == 401
            body = await resp.json()
    assert body["type"] == "error"
    assert (body["error"]["type"], body["error"]["code"]) == ("authentication_error", "missing_api_key")
    with pytest.raises(anthropic.AuthenticationError):
        await client(stack, "wrong").messages.create(
            model="grok-4.20-fast", max_tokens=10, messages=user("hi"))
    with pytest.raises(anthropic.AuthenticationError):
        await client(stack, "wrong").messages.count_tokens(model="grok-4.20-fast", messages=user("hi"))
    msg = await client(stack, "k").messages.create(
        model="grok-4.20-fast", max_tokens=10, messages=user("hi"))
    assert msg.content[0].text == DEFAULT_ANSWER


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("messages,error_type,param", [
    ([{"role": "user", "content": [{"type": "video", "data": "x"}]}],
     "invalid_request_error", "messages.0.content.0.type"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}],
     "invalid_request_error", "messages.0.content.0.tool_use_id"),
    ([{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {
        "type": "image", "source": {"type": "url", "url": "ftp://example.org/a.png"}}]}],
     "validation_error", "messages.0.content.1.source.url"),
])
async def test_bad_input_raises_bad_request(stack, messages, error_type, param, stream):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    with pytest.raises(anthropic.BadRequestError) as info:
        await client(stack).messages.create(model="grok-4.20-fast", max_tokens=10,
                                            messages=messages, stream=stream)
    err = info.value
    assert err.status_code == 400
    assert err.body["type"] == "error"
    assert (err.body["error"]["type"], err.body["error"]["param"]) == (error_type, param)
    assert stack.chat_attempts() == []


async def test_no_account_is_a_rate_limit_error_before_the_stream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")  # cannot serve the super-tier auto mode
    with pytest.raises(anthropic.RateLimitError):
        await client(stack).messages.create(model="grok-4.20-auto", max_tokens=10,
                                            messages=user("hi"), stream=True)


async def test_tool_history_is_replayed_into_the_prompt(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    msg = await client(stack).messages.create(model="grok-4.20-fast", max_tokens=64, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]}]},
    ])
    assert msg.content[0].text == DEFAULT_ANSWER
    prompt = stack.last_chat().message
    assert "[assistant]: Checking.\n<tool_calls>" in prompt
    assert '<parameters>{"city":"Paris"}</parameters>' in prompt
    assert prompt.endswith("[tool result for toolu_1]:\n18C")


WEATHER = [{"name": "get_weather", "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
CALL_TEXT = ("Let me check.\n<tool_calls>\n  <tool_call>\n    <tool_name>get_weather</tool_name>\n"
             '    <parameters>{"city":"Paris"}</parameters>\n  </tool_call>\n</tool_calls>\nBye.')


def sieve_wired(stack) -> bool:
    return any(type(a).__name__ == "ToolSieve" for a in stack.gateway.services.chain.addons)


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_becomes_tool_use_block(stack, stream):
    from ops.simulator.content import encode_say

    await stack.start_gateway()
    assert sieve_wired(stack), "the tool sieve is missing from the addon chain (addons/__init__.py)"
    stack.add_account("tok-a", "basic")
    kw = {"model": "grok-4.20-fast", "max_tokens": 256, "tools": WEATHER,
          "messages": user(f"[[sim say={encode_say(CALL_TEXT)} chunk=2]]")}
    c = client(stack)
    if stream:
        events = []
        async with c.messages.stream(**kw) as s:
            async for event in s:
                if event.type in RAW_EVENTS:
                    delta = getattr(event, "delta", None)
                    events.append(f"{event.type}:{getattr(delta, 'type', '')}"
                                  if event.type == "content_block_delta" else event.type)
            msg = await s.get_final_message()
        order = [e for i, e in enumerate(events) if i == 0 or e != events[i - 1]]
        assert order == [
            "message_start",
            "content_block_start", "content_block_delta:text_delta", "content_block_stop",
            "content_block_start", "content_block_delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop"]
    else:
        msg = await c.messages.create(**kw)
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[0].text.strip() == "Let me check."
    call = msg.content[1]
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    assert call.input == {"city": "Paris"}
    assert msg.stop_reason == "tool_use"


async def test_stop_sequences_end_the_answer_and_the_upstream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    msg = await client(stack).messages.create(
        model="grok-4.20-auto", max_tokens=64, thinking={"type": "disabled"},
        messages=user("[[sim tokens=400 delay_ms=20]]"), stop_sequences=["w5 w", "never"])
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "w0 w1 w2 w3 w4 "
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "w5 w"
    sim = stack.sim.state  # the rest of the 8 s answer is not waited for: the upstream is cut
    for _ in range(50):
        if sim.cancelled_streams:
            break
        await asyncio.sleep(0.02)
    assert sim.cancelled_streams == 1 and sim.active_streams == 0 and sim.completed_streams == 0
    assert stack.gateway.pool.count_inflight() == 0


async def test_stop_sequences_in_a_stream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    async with client(stack).messages.stream(
            model="grok-4.20-auto", max_tokens=64, thinking={"type": "disabled"},
            messages=user("[[sim tokens=20]]"), stop_sequences=["w3 "]) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "w0 w1 w2 "
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "w3 "


async def test_stop_sequences_must_be_strings(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    with pytest.raises(anthropic.BadRequestError) as info:
        await client(stack).messages.create(
            model="grok-4.20-auto", max_tokens=64, messages=user("hi"), stop_sequences=[3])
    assert "stop_sequences" in str(info.value)
    assert stack.sim.state.total_chats == 0
