"""The pipeline and the request-side addons on a scripted in-memory transport: no network.

Each test scripts what the upstream answers per attempt and checks what the client would get
and what happened to the accounts."""
from __future__ import annotations

import pytest

from addons import build_chain
from addons.services.catalogue import Catalogue
from addons.errors import ApiError
from addons.events import (
    End, Heartbeat, ReasoningDelta, Restart, SearchSources, TextDelta, UpstreamFailure,
)
from addons.flow import ChatRequest, Flow, Message
from addons.pipeline import Pipeline
from addons.upstream.base import TransportError
from state.pool import AccountPool
from state.settings import Settings


class ScriptedStream:
    def __init__(self, status: int, batches: list, body: str = "") -> None:
        self.status, self.batches, self.body = status, batches, body
        self.closed = False

    async def error_body(self, limit: int = 4096) -> str:
        return self.body[:limit]

    async def events(self):
        for batch in self.batches:
            if isinstance(batch, Exception):
                raise batch
            yield batch

    async def aclose(self) -> None:
        self.closed = True


class ScriptedTransport:
    """Answers attempt N with script[N]; records the cookie of every request."""

    def __init__(self, *script: ScriptedStream) -> None:
        self.script = list(script)
        self.tokens: list[str] = []

    async def open(self, request, timeouts):
        self.tokens.append(request.headers["Cookie"].split(";")[0].removeprefix("sso="))
        return self.script.pop(0)


def ok(*texts: str) -> ScriptedStream:
    return ScriptedStream(200, [[TextDelta(t) for t in texts], [End()]])


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
    return Flow(request=ChatRequest(model=model, messages=[Message("user", [text])], stream=stream))


async def run(pipeline, flow):
    await pipeline.open(flow)
    out = []
    try:
        async for batch in pipeline.events(flow):
            out.extend(batch)
    finally:
        await pipeline.close(flow)
    return out


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_happy_path_updates_quota_and_releases(settings):
    transport = ScriptedTransport(ok("Hel", "lo"))
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
    transport = ScriptedTransport(ScriptedStream(429, [], '{"error":{"code":8}}'), ok("fine"))
    pipeline, pool = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "fine"
    first, second = transport.tokens
    assert first != second and pool.get(first).status == "cooling"
    assert pool.get(first).inflight == pool.get(second).inflight == 0


async def test_marker_expires_account_and_does_not_count_as_a_retry(settings):
    body = '{"error":{"code":16,"message":"[WKE=unauthorized:invalid-credentials]"}}'
    transport = ScriptedTransport(ScriptedStream(401, [], body), ScriptedStream(401, [], body),
                                  ok("third account"))
    pipeline, pool = setup(settings, transport, "a", "b", "c")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "third account"  # two free switches, max_retries=1 untouched
    assert sorted(a.status for a in pool.all()) == ["active", "expired", "expired"]


async def test_inband_failure_before_content_fails_over_with_restart(settings):
    first = ScriptedStream(200, [[SearchSources([{"url": "https://a.example"}])],
                                 [UpstreamFailure(429, "Too many requests")]])
    transport = ScriptedTransport(first, ok("answer"))
    pipeline, pool = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow())
    kinds = [type(e) for e in events]
    assert Restart in kinds and text_of(events) == "answer"
    assert kinds.index(Restart) < kinds.index(TextDelta)
    assert first.closed


@pytest.mark.parametrize("first", [TextDelta("partial"), ReasoningDelta("thinking")])
async def test_failure_after_commit_raises_without_retry(settings, first):
    broken = ScriptedStream(200, [[first], TransportError("reset")])
    transport = ScriptedTransport(broken, ok("never"))
    pipeline, pool = setup(settings, transport, "a", "b")
    flow = new_flow(stream=True)
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow)
    assert info.value.status == 502 and len(transport.tokens) == 1
    assert flow.committed and pool.count_inflight() == 0


async def test_buffered_flow_fails_over_even_after_text(settings):
    settings.set("retry.on_codes", "429,401,502,503")
    broken = ScriptedStream(200, [[TextDelta("partial")], TransportError("reset")])
    transport = ScriptedTransport(broken, ok("complete"))
    pipeline, _ = setup(settings, transport, "a", "b")
    events = await run(pipeline, new_flow(stream=False))
    after_restart = events[[type(e) for e in events].index(Restart):]
    assert text_of(after_restart) == "complete"


async def test_no_account_is_429_and_nothing_is_sent(settings):
    transport = ScriptedTransport()
    pipeline, _ = setup(settings, transport, "a", pool_name="basic")
    with pytest.raises(ApiError) as info:
        await pipeline.open(new_flow(model="grok-4.20-0309"))  # super tier only
    assert info.value.status == 429 and transport.tokens == []


async def test_failed_open_releases_the_account(settings):
    transport = ScriptedTransport(ScriptedStream(500, [], "oops"))
    pipeline, pool = setup(settings, transport, "a")
    with pytest.raises(ApiError) as info:
        await pipeline.open(new_flow())
    assert info.value.status == 502
    assert pool.count_inflight() == 0 and pool.get("a").usage_fail_count == 1


async def test_heartbeats_pass_through_and_final_message_fills_an_empty_stream(settings):
    from addons.events import FinalMessage

    stream = ScriptedStream(200, [[Heartbeat()], [FinalMessage("assembled")], [End()]])
    pipeline, _ = setup(settings, ScriptedTransport(stream), "a")
    events = await run(pipeline, new_flow())
    assert isinstance(events[0], Heartbeat) and text_of(events) == "assembled"


async def test_auto_mode_falls_back_to_fast_when_auto_is_exhausted(settings):
    transport = ScriptedTransport(ok("fast answer"))
    pipeline, pool = setup(settings, transport, "s", pool_name="super")
    pool.get("s").window("auto").remaining = 0
    flow = new_flow(model="grok-4.20-auto")
    await run(pipeline, flow)
    assert flow.mode == "fast"


async def test_a_stream_body_dropped_unstarted_still_releases_the_account(settings):
    import asyncio
    import gc

    transport = ScriptedTransport(ok("never read"))
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


# ---- FAIL-3: an empty answer is a retryable failure ------------------------------------

def empty() -> ScriptedStream:
    return ScriptedStream(200, [[SearchSources([{"url": "https://a.example"}])],
                                [TextDelta("")], [End()]])


async def test_empty_answer_fails_over_whatever_on_codes_says(tmp_path):
    s = Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_RETRY_ON_CODES": "429"})
    transport = ScriptedTransport(empty(), ok("answer"))
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
    reasoning_only = ScriptedStream(200, [[ReasoningDelta("hmm")], [End()]])
    transport = ScriptedTransport(empty(), empty() if stream else reasoning_only, ok("never"))
    pipeline, pool = setup(settings, transport, "a", "b", "c")
    with pytest.raises(ApiError) as info:
        await run(pipeline, new_flow(stream=False))
    assert info.value.status == 502 and info.value.code == "empty_response"
    assert len(transport.tokens) == 2  # max_retries = 1


async def test_final_message_or_tool_call_is_an_answer(settings):
    from addons.events import FinalMessage

    images = ScriptedStream(200, [[FinalMessage("", ["https://assets.example/x.png"])], [End()]])
    transport = ScriptedTransport(images)
    pipeline, pool = setup(settings, transport, "a")
    events = await run(pipeline, new_flow())
    assert isinstance(events[-1], End) and pool.get("a").usage_use_count == 1


async def test_random_strategy_retries_five_times_and_cools_for_the_pool_interval(tmp_path):
    s = Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_ACCOUNT_REFRESH_ENABLED": "false",
        "GROK_ACCOUNT_REFRESH_BASIC_INTERVAL_SEC": "1000"})
    limited = [ScriptedStream(429, [], '{"error":{"code":8}}') for _ in range(5)]
    transport = ScriptedTransport(*limited, ok("sixth"))
    pipeline, pool = setup(s, transport, *"abcdef")
    events = await run(pipeline, new_flow())
    assert text_of(events) == "sixth" and len(set(transport.tokens)) == 6
    import time as _time

    for token in transport.tokens[:5]:
        acc = pool.get(token)
        assert acc.status == "cooling"
        assert abs(acc.cooldown_until / 1000 - (_time.time() + 1000)) < 30


def test_join_deltas_merges_only_adjacent_deltas_of_one_kind() -> None:
    from addons.events import End, ReasoningDelta, ResponseMeta, TextDelta, join_deltas

    batch = [ResponseMeta(response_id="r"), ReasoningDelta("th"), ReasoningDelta("ink"),
             TextDelta("Hel"), TextDelta("lo"), TextDelta(" wo"), ResponseMeta(response_id="s"),
             TextDelta("rld"), End()]
    assert join_deltas(batch) == [ResponseMeta(response_id="r"), ReasoningDelta("think"),
                                  TextDelta("Hello wo"), ResponseMeta(response_id="s"),
                                  TextDelta("rld"), End()]
    assert join_deltas([TextDelta("a")]) == [TextDelta("a")]
