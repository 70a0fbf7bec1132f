"""`previous_response_id` end to end with the official openai client: a follow-up continues
the upstream conversation on the same account over the mgw WebSocket (`load_existing`,
`parent_response_id`), and falls back to the full history, without an error, otherwise."""
from __future__ import annotations

import pytest

DEFAULT_ANSWER = "Hello from the grok simulator."
MODEL = "grok-4.20-fast"


@pytest.fixture
def chat_transport() -> str:
    return "mgw"


def sessions(stack) -> list:
    """The mgw sessions that carried a chat, in order."""
    return [s for s in stack.sim.state.mgw_sessions if s.message is not None]


def x_grok(session) -> dict:
    return session.events("session.create")[0]["session"]["x_grok"]


def parent_of(session) -> str | None:
    return session.events("conversation.item.create")[0].get("parent_response_id")


async def continuation_of(stack, response_id: str):
    return await stack.gateway.services.accounts.continuations.get(response_id)


async def test_follow_up_continues_on_the_same_account(stack):
    await stack.start_gateway()
    for token in ("tok-a", "tok-b", "tok-c"):
        stack.add_account(token, "basic")
    client = stack.openai()
    first = await client.responses.create(model=MODEL, input="Hi there")
    one = sessions(stack)[-1]
    assert x_grok(one)["is_temporary"] is False and "load_existing" not in x_grok(one)
    saved = await continuation_of(stack, first.id)
    assert (saved.token, saved.conversation_id) == (one.token, one.conversation_id)

    second = await client.responses.create(model=MODEL, input="And then?",
                                           previous_response_id=first.id)
    assert second.output_text == DEFAULT_ANSWER and second.previous_response_id == first.id
    two = sessions(stack)[-1]
    assert two.token == one.token  # the least used account would have been another one
    x = x_grok(two)
    assert (x["conversation_id"], x["load_existing"], x["needs_history"]) == (
        one.conversation_id, True, False)
    assert two.frames[0]["session_id"] == one.conversation_id
    assert parent_of(two) == saved.upstream_response_id and parent_of(two)
    assert two.message == "[user]: And then?"

    # a chain: the third turn continues from the second
    stream = await client.responses.create(model=MODEL, input="More",
                                           previous_response_id=second.id, stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    three = sessions(stack)[-1]
    assert three.token == one.token and x_grok(three)["conversation_id"] == one.conversation_id
    assert parent_of(three) == (await continuation_of(stack, second.id)).upstream_response_id


async def test_resent_history_is_trimmed_to_the_new_messages(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    first = await client.responses.create(model=MODEL, instructions="Be brief.", input="Hi")
    await client.responses.create(
        model=MODEL, instructions="Be brief.", previous_response_id=first.id,
        input=[{"role": "user", "content": "Hi"},
               {"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": first.output_text}]},
               {"role": "user", "content": "What is 2+2?"}])
    assert sessions(stack)[-1].message == "[user]: What is 2+2?"
    assert parent_of(sessions(stack)[-1])


async def test_unknown_id_falls_back_without_error(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    r = await stack.openai().responses.create(
        model=MODEL, instructions="Be brief.", previous_response_id="resp_0000unknown",
        input=[{"role": "user", "content": "Hi"},
               {"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello!"}]},
               {"role": "user", "content": "What is 2+2?"}])
    assert r.output_text == DEFAULT_ANSWER and r.previous_response_id == "resp_0000unknown"
    (session,) = sessions(stack)
    assert "load_existing" not in x_grok(session) and parent_of(session) is None
    assert session.message == (
        "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?")


@pytest.mark.parametrize("where", ["gateway", "upstream"])
async def test_expired_account_falls_back_to_another_with_full_history(stack, where):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    first = await client.responses.create(model=MODEL, input="Hi")
    stack.add_account("tok-b", "basic")
    if where == "gateway":  # the pool already knows: the account is not pinned
        stack.gateway.pool.on_invalid_credentials("tok-a", "token expired")
    else:  # only grok.com knows: the pinned attempt is refused, the retry switches
        stack.sim.state.set_status("tok-a", "expired")
    r = await client.responses.create(
        model=MODEL, previous_response_id=first.id,
        input=[{"role": "user", "content": "Hi"},
               {"type": "message", "role": "assistant", "content": first.output_text},
               {"role": "user", "content": "Again"}])
    assert r.output_text == DEFAULT_ANSWER
    last = sessions(stack)[-1]
    assert last.token == "tok-b" and "load_existing" not in x_grok(last)
    assert parent_of(last) is None
    assert last.message == f"[user]: Hi\n\n[assistant]: {DEFAULT_ANSWER}\n\n[user]: Again"
    assert stack.gateway.pool.get("tok-a").status == "expired"


async def test_mapping_survives_a_restart(stack):
    await stack.start_gateway()
    for token in ("tok-a", "tok-b"):
        stack.add_account(token, "basic")
    first = await stack.openai().responses.create(model=MODEL, input="Remember 7")
    one = sessions(stack)[-1]
    await stack.restart_gateway()
    r = await stack.openai().responses.create(model=MODEL, input="Which number?",
                                              previous_response_id=first.id)
    assert r.output_text == DEFAULT_ANSWER
    two = sessions(stack)[-1]
    assert two.token == one.token and x_grok(two)["conversation_id"] == one.conversation_id
    assert x_grok(two)["load_existing"] is True and parent_of(two)


async def test_store_false_is_temporary_and_not_continued(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    first = await client.responses.create(model=MODEL, input="Hi", store=False)
    assert x_grok(sessions(stack)[-1])["is_temporary"] is True
    await client.responses.create(model=MODEL, input="Again", previous_response_id=first.id)
    assert "load_existing" not in x_grok(sessions(stack)[-1])


@pytest.mark.parametrize("chat_transport", ["rest"])
async def test_rest_has_no_follow_up_endpoint_so_history_is_sent(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    client = stack.openai()
    first = await client.responses.create(model=MODEL, input="Hi")
    await client.responses.create(
        model=MODEL, previous_response_id=first.id,
        input=[{"role": "user", "content": "Hi"},
               {"type": "message", "role": "assistant", "content": first.output_text},
               {"role": "user", "content": "Again"}])
    sent = stack.last_chat().raw.json
    assert sent["message"] == f"[user]: Hi\n\n[assistant]: {DEFAULT_ANSWER}\n\n[user]: Again"
    assert sent["temporary"] is True and "conversationId" not in sent
