"""Usage accounting: the per-try tally (a stream transform) and the request recorder's record at
finish."""
from __future__ import annotations

import time

import pytest

from addons import build_chain
from addons.errors import ApiError
from addons.events import ReasoningDelta, TextDelta
from addons.pipeline import Pipeline
from addons.request_scope import RequestInfo, scope_var
from addons.services.catalogue import Catalogue
from addons.services.token_estimate import estimate_tokens
from addons.testflow import run_flow, tflow
from addons.upstream.mock import MockResponse, MockTransport
from addons.usage import PROMPT_OVERHEAD, UsageCounter
from state.account import token_label
from state.pool import AccountPool
from state.settings import Settings

ANSWER = "The quick brown fox jumps over the lazy dog."


class Book:
    """Collects what the request recorder hands the usage ledger."""

    def __init__(self) -> None:
        self.records: list = []

    def add(self, record) -> None:
        self.records.append(record)


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def test_usage_comes_from_the_try_that_answered_only():
    counter = UsageCounter()
    flow = tflow()
    dead = counter.transform(flow)  # a try that failed: never flushed
    dead.chunk(TextDelta("a long answer that was cut off and then retried " * 20))
    dead.chunk(ReasoningDelta("much thinking " * 20))
    live = counter.transform(flow)
    assert live is not dead
    for piece in ("The quick brown fox ", "jumps over the lazy dog."):
        assert live.chunk(TextDelta(piece)) == [TextDelta(piece)]  # passes text through
    assert live.flush() == []
    assert flow.usage.completion_tokens == estimate_tokens(ANSWER)
    assert flow.usage.reasoning_tokens == 0


def test_reasoning_counts_as_completion_tokens():
    flow = tflow()
    tally = UsageCounter().transform(flow)
    tally.chunk(ReasoningDelta("Let me think about this carefully."))
    tally.chunk(TextDelta("Yes."))
    tally.flush()
    reasoning = estimate_tokens("Let me think about this carefully.")
    assert flow.usage.reasoning_tokens == reasoning > 0
    assert flow.usage.completion_tokens == reasoning + estimate_tokens("Yes.")


def test_prompt_tokens_come_from_the_flattened_prompt():
    flow = tflow("hi")
    flow.prompt = "[system]: You are a careful assistant.\n\n[user]: " + "word " * 300
    tally = UsageCounter().transform(flow)
    tally.flush()
    assert flow.usage.prompt_tokens == estimate_tokens(flow.prompt) + PROMPT_OVERHEAD
    assert flow.usage.prompt_tokens > 300  # not the one-word message of the request


def setup(settings, transport, book, *tokens):
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=book)
    return Pipeline(chain, transport, settings)


async def test_a_success_after_a_failover_is_recorded_once_with_its_tokens(settings):
    book = Book()
    transport = MockTransport.script(MockResponse(429, [], '{"error":{"code":8}}'),
                                     MockResponse.text(ANSWER))
    pipeline = setup(settings, transport, book, "account-token-a", "account-token-b")
    flow = tflow("hello there", model="grok-4.20-fast", stream=False)
    await run_flow(pipeline, flow)
    [rec] = book.records
    assert (rec.model, rec.status, rec.error_code, rec.failovers) == ("grok-4.20-fast", 200, "", 1)
    assert (rec.prompt_tokens, rec.completion_tokens) == (flow.usage.prompt_tokens,
                                                          flow.usage.completion_tokens)
    assert (rec.key, rec.endpoint, rec.tier, rec.stream) == ("open", "openai.chat", "basic", False)
    assert rec.account == token_label(flow.lease.token) and "account-token" not in rec.account
    assert rec.ttft_ms is None and rec.prompt is None and rec.answer is None
    assert flow.usage.completion_tokens == estimate_tokens(ANSWER)
    assert flow.usage.prompt_tokens == estimate_tokens("[user]: hello there") + PROMPT_OVERHEAD


async def test_a_failed_request_is_recorded_once_with_its_code(settings):
    book = Book()
    transport = MockTransport.script(MockResponse(500, [], "oops"))
    pipeline = setup(settings, transport, book, "a")
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, tflow(model="grok-4.20-fast"))
    [rec] = book.records
    assert (rec.status, rec.error_code) == (info.value.status, info.value.code or info.value.type)
    assert rec.status >= 500


async def test_refusals_before_any_account_are_recorded_without_one(settings):
    book = Book()
    pipeline = setup(settings, MockTransport.script(), book)  # an empty pool: 429
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow(model="grok-4.20-fast"))
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow(model="grok-9"))  # never resolved
    assert [(r.model, r.status, r.account, r.tier) for r in book.records] == [
        ("grok-4.20-fast", 429, "", ""), ("grok-9", 400, "", "")]


async def test_a_stream_has_a_ttft_and_the_client_leaving_is_a_499(settings):
    """With a request scope the record waits for the HTTP layer's end: bytes, the request
    id, and a response the client did not read to the end counts as 499."""
    book = Book()
    pipeline = setup(settings, MockTransport.script(MockResponse.text(ANSWER)), book, "a")
    info = RequestInfo("req-1", "POST", "/v1/chat/completions", time.perf_counter())
    token = scope_var.set(info)
    try:
        await run_flow(pipeline, tflow(model="grok-4.20-fast", stream=True))
    finally:
        scope_var.reset(token)
    assert book.records == []  # not before the response ended
    info.bytes_in, info.bytes_out, info.complete = 120, 640, False
    info.on_end(info)
    [rec] = book.records
    assert (rec.request_id, rec.bytes_in, rec.bytes_out) == ("req-1", 120, 640)
    assert rec.status == 499 and rec.error_code == "client_disconnected"
    assert rec.stream and rec.ttft_ms is not None and rec.ttft_ms <= rec.duration_ms


async def test_store_content_keeps_the_prompt_and_the_answer_cut_to_size(tmp_path):
    settings = Settings(tmp_path / "config.toml", environ={
        "GROK_AUDIT_STORE_CONTENT": "true", "GROK_AUDIT_CONTENT_MAX_CHARS": "12"})
    book = Book()
    pipeline = setup(settings, MockTransport.script(MockResponse.text(ANSWER)), book, "a")
    await run_flow(pipeline, tflow("a question that is long", model="grok-4.20-fast"))
    [rec] = book.records
    assert rec.prompt == "[user]: a qu" and rec.answer == ANSWER[:12]
