"""An upstream answer that stops before its end marker is never delivered as a complete one.

Scripted on a mock transport: a stream of events without End (the upstream body or socket
ended early), or an idle timeout after content. What the client would get is checked: an
error (502 `upstream_truncated` / 504 `stream_idle_timeout`), never the half answer with an
End; before the first byte reached a streaming client, a failover to another account."""
from __future__ import annotations

import pytest

from addons import build_chain
from addons.errors import ApiError
from addons.events import End, Restart, SearchSources, TextDelta, UpstreamFailure
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow as run
from addons.testflow import text_of, tflow
from addons.upstream.base import UpstreamTimeout
from addons.upstream.mock import MockResponse, MockTransport
from state.pool import AccountPool
from state.settings import Settings


def settings_with(tmp_path, on_codes: str = "429,401,503") -> Settings:
    return Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_RETRY_ON_CODES": on_codes})


def setup(settings, transport, *tokens):
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    return Pipeline(chain, transport, settings), pool


def half_answer() -> MockResponse:
    """Text, then the upstream stops without saying the answer is whole (no End)."""
    return MockResponse(200, [[TextDelta("The first half")], [TextDelta(" and")]])


def idle_after_text() -> MockResponse:
    return MockResponse(200, [[TextDelta("The first half")], UpstreamTimeout("idle", 60)])


async def collected(pipeline, flow) -> tuple[list, ApiError | None]:
    """Events the client was given before the flow ended, and the error it ended with."""
    events: list = []
    try:
        await pipeline.open(flow)
        try:
            async for batch in pipeline.events(flow):
                events += batch
        finally:
            await pipeline.close(flow)
    except ApiError as exc:
        return events, exc
    return events, None


@pytest.mark.parametrize(("answer", "status", "code"), [
    (half_answer, 502, "upstream_truncated"),
    (idle_after_text, 504, "stream_idle_timeout"),
])
async def test_after_the_first_byte_a_stalled_or_truncated_answer_ends_with_an_error(
        tmp_path, answer, status, code):
    transport = MockTransport.script(answer(), MockResponse.text("never"))
    pipeline, pool = setup(settings_with(tmp_path, "429,401,502,503,504"), transport, "a", "b")
    flow = tflow("hi", stream=True)
    events, error = await collected(pipeline, flow)
    assert text_of(events).startswith("The first half")
    assert not any(isinstance(e, End) for e in events)  # no finish chunk, no "stop"
    assert error is not None and (error.status, error.code) == (status, code)
    assert flow.committed and len(transport.tokens) == 1  # the client saw text: no failover
    assert pool.count_inflight() == 0


@pytest.mark.parametrize("answer", [half_answer, idle_after_text])
async def test_a_buffered_request_never_gets_the_half_answer(tmp_path, answer):
    transport = MockTransport.script(answer())
    pipeline, _ = setup(settings_with(tmp_path), transport, "a")
    with pytest.raises(ApiError) as info:
        await run(pipeline, tflow("hi", stream=False))
    expected = (502, "upstream_truncated") if answer is half_answer \
        else (504, "stream_idle_timeout")
    assert (info.value.status, info.value.code) == expected


@pytest.mark.parametrize("stream", [True, False])
async def test_a_truncation_before_the_client_saw_text_fails_over(tmp_path, stream):
    # a streamed flow is not committed by metadata; a buffered one never is
    first = (MockResponse(200, [[SearchSources([{"url": "https://a.example"}])]]) if stream
             else half_answer())
    transport = MockTransport.script(first, MockResponse.text("The whole answer."))
    pipeline, pool = setup(settings_with(tmp_path, "429,401,502,503"), transport, "a", "b")
    events = await run(pipeline, tflow("hi", stream=stream))
    kinds = [type(e) for e in events]
    assert Restart in kinds and isinstance(events[-1], End)
    after = events[kinds.index(Restart):]
    assert text_of(after) == "The whole answer."
    first_token, second_token = transport.tokens
    assert first_token != second_token and pool.count_inflight() == 0


async def test_the_truncation_is_a_failure_the_retry_addon_sees(tmp_path):
    # classified like any upstream 502: with 502 out of retry.on_codes there is no retry
    transport = MockTransport.script(half_answer(), MockResponse.text("never"))
    pipeline, pool = setup(settings_with(tmp_path), transport, "a", "b")
    flow = tflow("hi", stream=False)
    with pytest.raises(ApiError) as info:
        await run(pipeline, flow)
    assert info.value.code == "upstream_truncated" and len(transport.tokens) == 1
    assert flow.attempt.failure == UpstreamFailure(
        502, "upstream answer ended before its end marker (truncated)",
        code="upstream_truncated")


async def test_a_whole_answer_still_ends_with_stop(tmp_path):
    transport = MockTransport.script(MockResponse.text("All of it."))
    pipeline, _ = setup(settings_with(tmp_path), transport, "a")
    events = await run(pipeline, tflow("hi", stream=True))
    assert text_of(events) == "All of it." and events[-1] == End("stop")
