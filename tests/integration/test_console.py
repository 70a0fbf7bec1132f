"""Console models end to end (console-and-voice §2–§3): the official openai and anthropic
clients → the gateway → the simulator's console, over real sockets."""
from __future__ import annotations

import anthropic
import openai
import pytest

from ops.simulator.console import DPOP_PATH, RESPONSES_PATH

pytestmark = pytest.mark.asyncio


def console_account(stack, token: str = "tok-c", tier: str = "super") -> None:
    stack.add_account(token, tier)
    stack.gateway.pool.update_tags(token, add=["console"])


def sent(stack) -> list[dict]:
    return [r.json for r in stack.sim.state.requests_to(RESPONSES_PATH)]


async def test_models_listed_only_with_a_console_account(stack):
    await stack.start_gateway()
    stack.add_account("tok-web", "super")
    ids = {m.id async for m in stack.openai().models.list()}
    assert "grok-4.20-auto" in ids and "grok-4.3" not in ids and "grok-voice-latest" not in ids
    stack.gateway.pool.update_tags("tok-web", add=["console"])
    ids = {m.id async for m in stack.openai().models.list()}
    assert {"grok-4.3", "grok-4.5", "grok-build-0.1", "grok-voice-latest", "grok-stt"} <= ids
    assert "grok-4.3-high" not in ids  # hidden aliases resolve but are not listed


async def test_chat_without_console_account_is_429(stack):
    await stack.start_gateway()
    stack.add_account("tok-web", "super")
    with pytest.raises(openai.RateLimitError):
        await stack.openai().chat.completions.create(
            model="grok-4.3", messages=[{"role": "user", "content": "hi"}])
    assert sent(stack) == []


async def test_chat_completions_non_stream_forwards_effort(stack):
    await stack.start_gateway()
    console_account(stack)
    r = await stack.openai().chat.completions.create(
        model="grok-4.3-console", messages=[{"role": "user", "content": "hi there"}],
        reasoning_effort="high")
    assert r.choices[0].message.content.strip() == "Console grok-4.3 says: hi there"
    body = sent(stack)[-1]
    assert body["model"] == "grok-4.3" and body["reasoning"] == {"effort": "high"}
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    assert body["input"] == [{"type": "message", "role": "user", "content": "hi there"}]
    # the web chat was never asked
    assert stack.chats() == []


async def test_alias_effort_wins_and_default_effort(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    await client.chat.completions.create(model="grok-4.3-low", reasoning_effort="high",
                                         messages=[{"role": "user", "content": "a"}])
    assert sent(stack)[-1]["reasoning"] == {"effort": "low"}
    await client.chat.completions.create(model="grok-4.3",
                                         messages=[{"role": "user", "content": "a"}])
    assert sent(stack)[-1]["reasoning"] == {"effort": "medium"}
    await client.chat.completions.create(model="grok-4.20-0309-reasoning-console",
                                         reasoning_effort="high",
                                         messages=[{"role": "user", "content": "a"}])
    assert "reasoning" not in sent(stack)[-1]  # fixed reasoning: the effort is stripped


async def test_chat_completions_stream_with_reasoning(stack):
    await stack.start_gateway()
    console_account(stack)
    stream = await stack.openai().chat.completions.create(
        model="grok-4.3-high", messages=[{"role": "user", "content": "hello"}], stream=True)
    text, reasoning = [], []
    async for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            text.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
    assert "".join(text).strip() == "Console grok-4.3 says: hello"
    assert "Thinking at high effort." in "".join(reasoning)


async def test_responses_stream_and_non_stream(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    r = await client.responses.create(model="grok-4.5", input="yo", reasoning={"effort": "low"})
    assert r.output_text.strip() == "Console grok-4.5 says: yo"
    assert sent(stack)[-1]["reasoning"] == {"effort": "low"}
    stream = await client.responses.create(model="grok-4.5", input="yo", stream=True)
    deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas).strip() == "Console grok-4.5 says: yo"


async def test_messages_stream_and_non_stream(stack):
    await stack.start_gateway()
    console_account(stack)
    client = anthropic.AsyncAnthropic(base_url=stack.url, api_key="unused", max_retries=0)
    try:
        m = await client.messages.create(
            model="grok-4.3", max_tokens=100, messages=[{"role": "user", "content": "hey"}],
            thinking={"type": "enabled", "budget_tokens": 20000})
        assert m.content[-1].text.strip() == "Console grok-4.3 says: hey"
        assert sent(stack)[-1]["reasoning"] == {"effort": "high"}
        async with client.messages.stream(
                model="grok-build-console", max_tokens=100,
                messages=[{"role": "user", "content": "hey"}]) as stream:
            text = "".join([t async for t in stream.text_stream])
        assert text.strip() == "Console grok-build-0.1 says: hey"
        assert "reasoning" not in sent(stack)[-1]
    finally:
        await client.close()


async def test_dpop_token_cached_and_refreshed_once_on_401(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    for _ in range(2):
        await client.chat.completions.create(model="grok-4.3",
                                             messages=[{"role": "user", "content": "x"}])
    assert len(stack.sim.state.requests_to(DPOP_PATH)) == 1  # one token for both
    stack.sim.state.inject("console_expired", path=RESPONSES_PATH)
    r = await client.chat.completions.create(model="grok-4.3",
                                             messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content.strip() == "Console grok-4.3 says: x"
    assert len(stack.sim.state.requests_to(DPOP_PATH)) == 2  # minted once more, then it worked
    calls = stack.sim.state.requests_to(RESPONSES_PATH)
    assert calls[-1].headers["authorization"] != calls[-2].headers["authorization"]
    assert calls[-1].headers["x-cluster"] == "https://us-east-1.api.x.ai"


async def test_second_401_expires_the_account(stack):
    await stack.start_gateway()
    console_account(stack)
    stack.sim.state.inject("console_expired", path=RESPONSES_PATH, times=2)
    with pytest.raises(openai.APIStatusError):
        await stack.openai().chat.completions.create(
            model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    acc = stack.gateway.pool.get("tok-c")
    assert acc.status == "expired"


async def test_blocked_user_expires_and_fails_over(stack):
    await stack.start_gateway()
    console_account(stack, "tok-c1")
    console_account(stack, "tok-c2")
    stack.sim.state.inject("console_blocked", path=RESPONSES_PATH)
    r = await stack.openai().chat.completions.create(
        model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content
    states = {t: stack.gateway.pool.get(t).status for t in ("tok-c1", "tok-c2")}
    assert sorted(states.values()) == ["active", "expired"]


async def test_rate_limit_cools_console_mode_only(stack):
    await stack.start_gateway()
    console_account(stack, "tok-c1")
    console_account(stack, "tok-c2")
    stack.sim.state.inject("console_quota", path=RESPONSES_PATH)
    r = await stack.openai().chat.completions.create(
        model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content
    pool = stack.gateway.pool
    cooled = [t for t in ("tok-c1", "tok-c2") if pool.mode_cooling(t, "console")]
    assert len(cooled) == 1
    assert not pool.mode_cooling(cooled[0], "auto")  # the web modes are untouched
    assert pool.get(cooled[0]).status == "active"


async def test_anti_bot_403_retries_same_account_without_penalty(stack):
    await stack.start_gateway()
    console_account(stack)
    stack.sim.state.inject("console_anti_bot", path=RESPONSES_PATH)
    r = await stack.openai().chat.completions.create(
        model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content
    assert [c.token for c in stack.sim.state.requests_to(RESPONSES_PATH)] == ["tok-c", "tok-c"]
    assert stack.gateway.pool.get("tok-c").status == "active"


async def test_dpop_required_is_not_retried(stack):
    await stack.start_gateway()
    console_account(stack, "tok-c1")
    console_account(stack, "tok-c2")
    stack.sim.state.inject("console_dpop_required", path=RESPONSES_PATH)
    with pytest.raises(openai.APIStatusError):
        await stack.openai().chat.completions.create(
            model="grok-4.3", messages=[{"role": "user", "content": "x"}])
    assert len(stack.sim.state.requests_to(RESPONSES_PATH)) == 1
    assert all(stack.gateway.pool.get(t).status == "active" for t in ("tok-c1", "tok-c2"))
