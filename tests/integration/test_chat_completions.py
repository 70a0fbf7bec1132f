"""/v1/chat/completions end to end with the official openai client."""
from __future__ import annotations


import openai
import pytest

from ops.simulator.content import answer_tokens, split_tag_visible_text
from tests.integration.sse_client import chunks, read_sse

DEFAULT_ANSWER = "Hello from the grok simulator."


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def test_non_stream_with_reasoning(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().chat.completions.create(model="grok-4.20-auto", messages=user("hi"))
    msg = r.choices[0].message
    assert msg.content == DEFAULT_ANSWER
    assert r.choices[0].finish_reason == "stop"
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    assert "Thinking step 0." in msg.reasoning_content
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > r.usage.completion_tokens_details.reasoning_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


async def test_non_stream_reasoning_off(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().chat.completions.create(
        model="grok-4.20-auto", messages=user("hi"), reasoning_effort="none")
    assert r.choices[0].message.content == DEFAULT_ANSWER
    assert getattr(r.choices[0].message, "reasoning_content", None) is None


async def test_stream_order_role_reasoning_content_finish_usage_done(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
            "model": "grok-4.20-auto", "messages": user("[[sim tokens=5]]"), "stream": True,
            "stream_options": {"include_usage": True},
        }) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers["cache-control"] == "no-cache"
            assert resp.headers["x-accel-buffering"] == "no"
            frames = await read_sse(resp)
    assert frames[0] == ("comment", "ping")
    assert frames[-1] == ("data", "[DONE]")
    body = chunks(frames)
    assert body[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    kinds = []
    for c in body[1:]:
        if not c["choices"]:
            kinds.append("usage")
            continue
        delta = c["choices"][0]["delta"]
        kinds.append("finish" if c["choices"][0]["finish_reason"] else next(iter(delta)))
    # reasoning first, then content, exactly one finish chunk, then the usage chunk
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning_content"}
    # tokens that arrive together may share a chunk; the text is checked whole below
    assert kinds[-2:] == ["finish", "usage"] and set(kinds[first_content:-2]) == {"content"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in body if c["choices"])
    assert text == "".join(answer_tokens(5))
    assert body[-1]["usage"]["completion_tokens"] > 0
    assert all(c["choices"][0]["finish_reason"] is None for c in body[:-2])
    assert len({c["id"] for c in body}) == 1


async def test_stream_with_sdk_and_reasoning_off(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stream = await stack.openai().chat.completions.create(
        model="grok-4.20-auto", messages=user("hi"), stream=True, reasoning_effort="none")
    text, reasoning = [], []
    async for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            text.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
    assert "".join(text) == DEFAULT_ANSWER
    assert "".join(reasoning) == ""


async def test_multi_turn_and_system_are_flattened(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    await stack.openai().chat.completions.create(model="grok-4.20-fast", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is 2+2?"}])
    chat = stack.last_chat()
    assert chat.message == "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?"
    assert chat.mode == "fast"


async def test_split_tags_are_removed(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    r = await client.chat.completions.create(model="grok-4.20-fast", messages=user("[[sim split_tag=1]]"))
    assert r.choices[0].message.content == split_tag_visible_text()
    stream = await client.chat.completions.create(
        model="grok-4.20-fast", messages=user("[[sim split_tag=1]]"), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == split_tag_visible_text()


async def test_multibyte_utf8_split_across_writes(stack):
    from ops.simulator.content import UTF8_TEXT

    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().chat.completions.create(model="grok-4.20-fast", messages=user("[[sim utf8=1]]"))
    assert r.choices[0].message.content == UTF8_TEXT


async def test_search_sources_reported(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().chat.completions.create(model="grok-4.20-fast", messages=user("[[sim search=1]]"))
    sources = r.model_extra["search_sources"]
    urls = [s["url"] for s in sources]
    assert "https://en.wikipedia.org/wiki/Paris" in urls and len(urls) == len(set(urls)) >= 3
    assert "<grok:render" not in r.choices[0].message.content


async def test_upstream_headers_and_payload_follow_the_protocol(stack):
    import base64
    import uuid

    if stack.mgw:
        pytest.skip("REST request shape; the mgw one is test_mgw_handshake_and_frames_follow_the_protocol")
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    await stack.openai().chat.completions.create(model="grok-4.20-expert", messages=user("hi"))
    req = [r for r in stack.sim.state.requests if r.path == "/rest/app-chat/conversations/new"][-1]
    h = req.headers
    assert "sso=tok-a" in h["cookie"] and "sso-rw=tok-a" in h["cookie"]
    assert h["origin"] == "https://grok.com" and h["referer"] == "https://grok.com/"
    assert h["content-type"] == "application/json"
    assert h["sec-fetch-mode"] == "cors" and h["sec-fetch-site"] == "same-origin"
    assert h["baggage"].startswith("sentry-environment=production")
    assert "Chrome/" in h["user-agent"] and h["sec-ch-ua-platform"] == '"macOS"'
    uuid.UUID(h["x-xai-request-id"])
    assert base64.b64decode(h["x-statsig-id"]).decode().startswith("x1:TypeError: Cannot read properties of ")
    body = req.json
    assert body["modeId"] == "expert" and body["message"] == "[user]: hi"
    assert body["temporary"] is True and body["disableMemory"] is True
    assert body["sendFinalMetadata"] is True and body["fileAttachments"] == []
    assert body["toolOverrides"] == {"gmailSearch": False, "googleCalendarSearch": False,
                                     "outlookSearch": False, "outlookCalendarSearch": False,
                                     "googleDriveSearch": False}
    assert "customPersonality" not in body


async def test_mgw_handshake_and_frames_follow_the_protocol(stack):
    if not stack.mgw:
        pytest.skip("mgw only")
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    await stack.openai().chat.completions.create(model="grok-4.20-expert", messages=user("hi"))
    uid = stack.sim.state.tokens["tok-a"].user_id
    assert [r.path for r in stack.sim.state.requests][:2] == ["/api/auth/session", "/ws/mgw/"]
    handshake = stack.chat_attempts()[-1]
    assert handshake.query == {"uid": uid}
    h = handshake.headers
    assert h["cookie"] == f"sso=tok-a; sso-rw=tok-a; x-userid={uid}"
    assert h["origin"] == "https://grok.com" and "Chrome/" in h["user-agent"]
    assert h["cache-control"] == "no-cache" and h["pragma"] == "no-cache"
    assert "x-statsig-id" not in h and "baggage" not in h
    session = stack.last_chat().raw
    kinds = [f["event"]["type"] for f in session.frames]
    assert kinds[:3] == ["session.create", "conversation.item.create", "response.create"]
    create = session.events("session.create")[0]
    assert create["event_id"].startswith("evt_init_") and create["session"]["model"] == "expert"
    x_grok = create["session"]["x_grok"]
    assert x_grok["is_temporary"] is True and x_grok["disable_memory"] is True
    assert x_grok["protocol_capabilities"] == ["conversation_attached", "custom_methods_v1"]
    item = session.events("conversation.item.create")[0]
    assert item["item"]["x_grok"]["input_chunks"] == [{"text": {"text": "[user]: hi"}}]
    assert "file_attachment_ids" not in item
    assert session.frames[1]["session_id"] == session.conversation_id
    # a second chat of the same account reuses the cached user id
    await stack.openai().chat.completions.create(model="grok-4.20-expert", messages=user("again"))
    assert len(stack.sim.state.requests_to("/api/auth/session")) == 1


async def test_unknown_extra_fields_are_ignored(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
            "model": "grok-4.20-fast", "messages": user("hi"), "n": 1, "seed": 7, "whatever": {"x": 1},
            "max_tokens": 5, "temperature": 0.2, "top_p": 0.5}) as resp:
            assert resp.status == 200
            assert (await resp.json())["choices"][0]["message"]["content"] == DEFAULT_ANSWER


async def test_heartbeat_comment_while_upstream_is_silent(stack):
    await stack.start_gateway(GROK_SERVER_HEARTBEAT_SEC="0.2")
    stack.add_account("tok-a", "basic")
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
            "model": "grok-4.20-fast", "messages": user("[[sim tokens=3 first_byte_ms=0 delay_ms=700]]"),
            "stream": True}) as resp:
            frames = await read_sse(resp)
    pings = [i for i, f in enumerate(frames) if f == ("comment", "ping")]
    assert len(pings) >= 3  # one at once, more during the 0.7 s gaps
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks(frames) if c["choices"]) == "w0 w1 w2 "


async def test_models_list_follows_the_pool(stack):
    await stack.start_gateway()
    client = stack.openai()
    assert [m.id async for m in client.models.list()] == []
    stack.add_account("tok-a", "basic")
    ids = [m.id async for m in client.models.list()]
    assert "grok-4.20-fast" in ids and "grok-4.20-auto" not in ids
    stack.add_account("tok-b", "super")
    ids = [m.id async for m in client.models.list()]
    assert "grok-4.20-auto" in ids and "grok-4.20-heavy" not in ids
    assert (await client.models.retrieve("grok-4.20-auto")).owned_by == "xai"
    async with stack.http() as http:
        async with http.get("/v1/models/grok-4.20-heavy") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "model_not_found"
        async with http.options("/v1/chat/completions", headers={
                "Origin": "https://app.example", "Access-Control-Request-Method": "POST"}) as resp:
            assert resp.headers["access-control-allow-origin"] == "*"


async def test_stop_ends_the_answer_before_the_sequence(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    client = stack.openai()
    r = await client.chat.completions.create(
        model="grok-4.20-auto", messages=user("[[sim tokens=12]]"), stop="w4 w",
        reasoning_effort="none")
    assert r.choices[0].message.content == "w0 w1 w2 w3 " and r.choices[0].finish_reason == "stop"
    stream = await client.chat.completions.create(
        model="grok-4.20-auto", messages=user("[[sim tokens=12]]"), stop=["zzz", "w2 "],
        reasoning_effort="none", stream=True)
    text, finish = [], []
    async for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish.append(chunk.choices[0].finish_reason)
    assert "".join(text) == "w0 w1 " and finish[-1] == "stop"


async def test_more_than_four_stop_sequences_is_a_validation_error(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().chat.completions.create(
            model="grok-4.20-auto", messages=user("hi"), stop=["a", "b", "c", "d", "e"])
    assert info.value.body["param"] == "stop"
