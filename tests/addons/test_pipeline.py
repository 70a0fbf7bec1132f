"""The pipeline and the request-side addons on a mock transport: no network.

Each test scripts what the upstream answers per attempt and checks what the client would get
and what happened to the accounts."""
from __future__ import annotations

import gc

import pytest

from addons import build_chain
from addons.services.catalogue import Catalogue
from addons.errors import ApiError
from addons.events import (
    End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, UpstreamFailure,
)
from addons.pipeline import Pipeline
from addons.testflow import run_flow as run
from addons.testflow import text_of, tflow
from addons.upstream.base import TransportError
from addons.upstream.mock import MockResponse, MockTransport
from state.pool import AccountPool
from state.settings import Settings


def ok(*texts: str) -> MockResponse:
    return MockResponse.text(*texts)


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def setup(settings, transport, *tokens, pool_name="basic"):
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool=pool_name)
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    return Pipeline(chain, transport, settings), pool


def new_flow(stream=True, model="grok-4.20-fast", text="hi"):
    return tflow(text, model=model, stream=stream)


async def test_happy_path_updates_quota_and_releases(settings):
    transport = MockTransport.script(ok("Hel", "lo"))
    pipeline, pool = setup(settings, transport, "a")
    flow = new_flow()
    events = await run(pipeline, flow)
    assert text_of(events) == "Hello" and isinstance(events[-1], End)
    acc = pool.get("a")
    assert acc.inflight == 0 and acc.usage_use_count == 1
    assert acc.window("fast").remaining == acc.window("fast").total - 1
    assert flow.usage.prompt_tokens > 0 and flow.usage.completion_tokens > 0
    assert flow.prompt == "[user]: hi"


async def test_429_before_the_stream_switches_account(settings):
    transport = MockTransport.script(MockResponse(429, [], '{"error":{"code":8}}'), ok("fine"))
    pipeline, pool = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "fine"
    first, second = transport.tokens
    assert first != second and pool.mode_cooling(first, "fast")
    assert pool.get(first).status == "active"  # only the mode cools
    assert pool.get(first).inflight == pool.get(second).inflight == 0


async def test_marker_expires_account_and_does_not_count_as_a_retry(settings):
    body = '{"error":{"code":16,"message":"[WKE=unauthorized:invalid-credentials]"}}'
    transport = MockTransport.script(MockResponse(401, [], body), MockResponse(401, [], body),
                                  ok("third account"))
    pipeline, pool = setup(settings, transport, "a", "b", "c")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "third account"  # two free switches, max_retries=1 untouched
    assert sorted(a.status for a in pool.all()) == ["active", "expired", "expired"]


async def test_inband_failure_before_content_fails_over_with_restart(settings):
    first = MockResponse(200, [[SearchSources([{"url": "https://a.example"}])],
                                 [UpstreamFailure(429, "Too many requests")]])
    transport = MockTransport.script(first, ok("answer"))
    pipeline, pool = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow())
    kinds = [type(e) for e in events]
    assert Restart in kinds and text_of(events) == "answer"
    assert kinds.index(Restart) < kinds.index(TextDelta)
    assert transport.streams[0].closed


@pytest.mark.parametrize("first", [TextDelta("partial"), ReasoningDelta("thinking")])
async def test_failure_after_commit_raises_without_retry(settings, first):
    broken = MockResponse(200, [[first], TransportError("reset")])
    transport = MockTransport.script(broken, ok("never"))
    pipeline, pool = setup(settings, transport, "a", "b")
    flow = new_flow(stream=True)
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow)
    assert info.value.status == 502 and len(transport.tokens) == 1
    assert flow.committed and pool.count_inflight() == 0


async def test_buffered_flow_fails_over_even_after_text(settings):
    settings.set("retry.on_codes", "429,401,502,503")
    broken = MockResponse(200, [[TextDelta("partial")], TransportError("reset")])
    transport = MockTransport.script(broken, ok("complete"))
    pipeline, _ = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow(stream=False))
    after_restart = events[[type(e) for e in events].index(Restart):]
    assert text_of(after_restart) == "complete"


async def test_no_account_is_429_and_nothing_is_sent(settings):
    transport = MockTransport.script()
    pipeline, _ = setup(settings, transport, "a", pool_name="basic")
    with pytest.raises(ApiError) as info:
        await pipeline.open(new_flow(model="grok-4.20-0309"))  # super tier only
    assert info.value.status == 429 and transport.tokens == []


async def test_failed_open_releases_the_account(settings):
    transport = MockTransport.script(MockResponse(500, [], "oops"))
    pipeline, pool = setup(settings, transport, "a")
    with pytest.raises(ApiError) as info:
        await pipeline.open(new_flow())
    assert info.value.status == 502
    assert pool.count_inflight() == 0 and pool.get("a").usage_fail_count == 1


async def test_heartbeats_pass_through_and_final_message_fills_an_empty_stream(settings):
    from addons.events import FinalMessage

    stream = MockResponse(200, [[Heartbeat()], [FinalMessage("assembled")], [End()]])
    pipeline, _ = setup(settings, MockTransport.script(stream), "a")
    events = await run(pipeline, new_flow())
    assert isinstance(events[0], Heartbeat) and text_of(events) == "assembled"


async def test_auto_mode_falls_back_to_fast_when_auto_is_exhausted(settings):
    transport = MockTransport.script(ok("fast answer"))
    pipeline, pool = setup(settings, transport, "s", pool_name="super")
    pool.get("s").window("auto").remaining = 0
    flow = new_flow(model="grok-4.20-auto")
    await run(pipeline, flow)
    assert flow.attempt.mode == "fast"


async def test_a_stream_body_dropped_unstarted_still_releases_the_account(settings):
    import asyncio
    import gc

    transport = MockTransport.script(ok("never read"))
    pipeline, pool = setup(settings, transport, "a")
    flow = new_flow()
    await pipeline.open(flow)
    body = pipeline.events(flow)
    pipeline.close_when_dropped(body, flow)
    assert pool.count_inflight() == 1
    del body
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)
    assert pool.count_inflight() == 0


# ---- an empty answer is a retryable failure --------------------------------------------

def empty() -> MockResponse:
    return MockResponse(200, [[SearchSources([{"url": "https://a.example"}])],
                                [TextDelta("")], [End()]])


async def test_empty_answer_fails_over_whatever_on_codes_says(tmp_path):
    s = Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_RETRY_ON_CODES": "429"})
    transport = MockTransport.script(empty(), ok("answer"))
    pipeline, pool = setup(s, transport, "a", "b")
    events = await run(pipeline, new_flow())
    assert Restart in [type(e) for e in events] and text_of(events) == "answer"
    first, second = transport.tokens
    assert first != second
    bad = pool.get(first)
    assert bad.consecutive_failures == 1 and bad.last_fail_reason == "empty response"
    assert bad.health < 1 and bad.usage_use_count == 0 and bad.inflight == 0


@pytest.mark.parametrize("stream", [True, False])
async def test_empty_answers_count_against_max_retries(settings, stream):
    reasoning_only = MockResponse(200, [[ReasoningDelta("hmm")], [End()]])
    transport = MockTransport.script(empty(), empty() if stream else reasoning_only, ok("never"))
    pipeline, pool = setup(settings, transport, "a", "b", "c")
    with pytest.raises(ApiError) as info:
        await run(pipeline, new_flow(stream=False))
    assert info.value.status == 502 and info.value.code == "empty_response"
    assert len(transport.tokens) == 2  # max_retries = 1


async def test_final_message_or_tool_call_is_an_answer(settings):
    from addons.events import FinalMessage

    images = MockResponse(200, [[FinalMessage("", ["https://assets.example/x.png"])], [End()]])
    transport = MockTransport.script(images)
    pipeline, pool = setup(settings, transport, "a")
    events = await run(pipeline, new_flow())
    assert isinstance(events[-1], End) and pool.get("a").usage_use_count == 1


async def test_random_strategy_retries_five_times_and_cools_for_the_pool_interval(tmp_path):
    # five 429s on five accounts with nothing succeeding between them: the breaker would take
    # them for a throttle of the egress; this is about the strategy alone
    s = Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_ACCOUNT_REFRESH_ENABLED": "false",
        "GROK_ACCOUNT_REFRESH_BASIC_INTERVAL_SEC": "1000", "GROK_BREAKER_ENABLED": "false"})
    limited = [MockResponse(429, [], '{"error":{"code":8}}') for _ in range(5)]
    transport = MockTransport.script(*limited, ok("sixth"))
    pipeline, pool = setup(s, transport, *"abcdef")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "sixth" and len(set(transport.tokens)) == 6
    import time as _time

    for token in transport.tokens[:5]:
        cooldown = pool.get(token).mode_cooldown("fast")
        assert abs(cooldown["until"] / 1000 - (_time.time() + 1000)) < 30


def test_join_deltas_merges_only_adjacent_deltas_of_one_kind() -> None:
    from addons.events import End, ReasoningDelta, ResponseMeta, TextDelta, join_deltas

    batch = [ResponseMeta(response_id="r"), ReasoningDelta("th"), ReasoningDelta("ink"),
             TextDelta("Hel"), TextDelta("lo"), TextDelta(" wo"), ResponseMeta(response_id="s"),
             TextDelta("rld"), End()]
    assert join_deltas(batch) == [ResponseMeta(response_id="r"), ReasoningDelta("think"),
                                  TextDelta("Hello wo"), ResponseMeta(response_id="s"),
                                  TextDelta("rld"), End()]
    assert join_deltas([TextDelta("a")]) == [TextDelta("a")]


# ---- a failed try leaves nothing behind -------------------------------------------------

@pytest.mark.parametrize("stream", [True, False])
async def test_a_try_that_dies_inside_a_filtered_tag_does_not_swallow_the_next_answer(
        settings, stream):
    # the first account starts an artifact (filtered, so the client sees nothing, and the
    # flow may still fail over), then grok.com says 429 in-band
    dying = MockResponse(200, [[TextDelta("<xaiartifact title='x'>" + "lorem ipsum " * 50)],
                               [UpstreamFailure(429, "Too many requests")]])
    transport = MockTransport.script(dying, ok("Hello from b"))
    pipeline, _ = setup(settings, transport, "a", "b")
    flow = new_flow(stream=stream)
    events = await run(pipeline, flow)
    after = events[[type(e) for e in events].index(Restart):]
    assert text_of(after) == "Hello from b"
    # usage counts the answer the client got, not the dead try's text as well
    from addons.services.token_estimate import estimate_tokens
    assert flow.usage.completion_tokens == estimate_tokens("Hello from b")


async def test_a_failed_tool_call_try_does_not_set_the_finish_reason(settings):
    from addons.jobs import ToolSpec

    call = '<tool_calls><tool_call><tool_name>f</tool_name><parameters>{}</parameters></tool_call></tool_calls>'
    dying = MockResponse(200, [[TextDelta(call)], TransportError("reset")])
    transport = MockTransport.script(dying, ok("plain answer"))
    settings.set("retry.on_codes", "429,401,502,503")
    pipeline, _ = setup(settings, transport, "a", "b")
    flow = tflow("hi", stream=False, tools=[ToolSpec("f")])
    events = await run(pipeline, flow)
    restart = [type(e) for e in events].index(Restart)
    assert any(type(e).__name__ == "ToolCall" for e in events[:restart])  # the dead try's call
    assert text_of(events[restart:]) == "plain answer"
    assert flow.finish_reason == "stop" and events[-1] == End("stop")


# ---- hooks around the request -----------------------------------------------------------

class Answering:
    """A request hook that answers the flow itself."""

    def request(self, flow):
        flow.reply = [TextDelta("from the cache")]


async def test_a_reply_set_by_a_request_hook_skips_the_upstream(settings):
    from addons.chain import Chain

    calls = []

    class Watch:
        def response(self, flow):
            calls.append("response")

        def finish(self, flow):
            calls.append("finish")

        def attempt(self, flow):
            calls.append("attempt")

    transport = MockTransport.script()
    pipeline = Pipeline(Chain([Answering(), Watch()]), transport, settings)
    events = await run(pipeline, new_flow())
    assert text_of(events) == "from the cache" and events[-1] == End("stop")
    assert transport.requests == [] and calls == ["response", "finish"]


async def test_requestheaders_run_before_the_body_is_parsed(settings):
    settings.set("app.api_key", "k1")
    pipeline, _ = setup(settings, MockTransport.script(), "a")
    parsed = []
    flow = new_flow()
    flow.client_headers = {"authorization": "Bearer wrong"}
    with pytest.raises(ApiError) as info:
        await pipeline.open(flow, lambda: parsed.append(1))
    assert info.value.status == 401 and parsed == []


async def test_a_job_no_transport_serves_is_501_before_any_account_is_leased(settings):
    from addons.flow import Flow
    from addons.jobs import ImageRequest

    transport = MockTransport.script()
    pipeline, pool = setup(settings, transport, "a")
    flow = Flow(ImageRequest(model="grok-imagine-1.0", prompt="a cat"))
    with pytest.raises(ApiError) as info:
        await pipeline.open(flow)
    assert info.value.status == 501 and transport.requests == []
    assert pool.get("a").usage_use_count == 0 and pool.count_inflight() == 0


@pytest.mark.parametrize("stream", [True, False])
async def test_a_closed_flow_leaves_no_cyclic_garbage(settings, stream):
    """A finished request's objects are freed by reference counting at once: none waits for
    the cyclic collector, which the gateway runs rarely (each pass then stalls the loop)."""
    transport = MockTransport.script(ok("Hel", "lo"))
    pipeline, _ = setup(settings, transport, "a")
    flow = new_flow(stream=stream)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert text_of(await run(pipeline, flow)) == "Hello"
        del flow
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage} & {"Flow", "Attempt", "Lease"}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left
