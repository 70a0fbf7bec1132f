"""Usage accounting: the per-try tally (a stream transform) and the ledger record at finish."""
from __future__ import annotations

import pytest

from addons import build_chain
from addons.errors import ApiError
from addons.events import ReasoningDelta, TextDelta
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.services.token_estimate import estimate_tokens
from addons.testflow import run_flow, tflow
from addons.upstream.mock import MockResponse, MockTransport
from addons.usage import PROMPT_OVERHEAD, UsageCounter
from state.pool import AccountPool
from state.settings import Settings

ANSWER = "The quick brown fox jumps over the lazy dog."


class Ledger:
    """Records what the usage addon reports, as the per-model usage ledger would."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bool, int, int]] = []

    def record(self, model: str, ok: bool, prompt: int, completion: int) -> None:
        self.records.append((model, ok, prompt, completion))


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def test_usage_comes_from_the_try_that_answered_only():
    counter = UsageCounter(None)
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
    tally = UsageCounter(None).transform(flow)
    tally.chunk(ReasoningDelta("Let me think about this carefully."))
    tally.chunk(TextDelta("Yes."))
    tally.flush()
    reasoning = estimate_tokens("Let me think about this carefully.")
    assert flow.usage.reasoning_tokens == reasoning > 0
    assert flow.usage.completion_tokens == reasoning + estimate_tokens("Yes.")


def test_prompt_tokens_come_from_the_flattened_prompt():
    flow = tflow("hi")
    flow.prompt = "[system]: You are a careful assistant.\n\n[user]: " + "word " * 300
    tally = UsageCounter(None).transform(flow)
    tally.flush()
    assert flow.usage.prompt_tokens == estimate_tokens(flow.prompt) + PROMPT_OVERHEAD
    assert flow.usage.prompt_tokens > 300  # not the one-word message of the request


def setup(settings, transport, ledger, *tokens):
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=ledger)
    return Pipeline(chain, transport, settings)


async def test_the_ledger_records_a_success_once_after_a_failover(settings):
    ledger = Ledger()
    transport = MockTransport.script(MockResponse(429, [], '{"error":{"code":8}}'),
                                     MockResponse.text(ANSWER))
    pipeline = setup(settings, transport, ledger, "a", "b")
    flow = tflow("hello there", model="grok-4.20-fast")
    await run_flow(pipeline, flow)
    assert ledger.records == [("grok-4.20-fast", True, flow.usage.prompt_tokens,
                               flow.usage.completion_tokens)]
    assert flow.usage.completion_tokens == estimate_tokens(ANSWER)
    assert flow.usage.prompt_tokens == estimate_tokens("[user]: hello there") + PROMPT_OVERHEAD


async def test_the_ledger_records_a_failed_request_once(settings):
    ledger = Ledger()
    transport = MockTransport.script(MockResponse(500, [], "oops"))
    pipeline = setup(settings, transport, ledger, "a")
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow(model="grok-4.20-fast"))
    assert [(model, ok) for model, ok, _, _ in ledger.records] == [("grok-4.20-fast", False)]


async def test_nothing_is_recorded_when_no_account_was_used(settings):
    ledger = Ledger()
    pipeline = setup(settings, MockTransport.script(), ledger)  # an empty pool: 429
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow(model="grok-4.20-fast"))
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow(model="grok-9"))  # never resolved
    assert ledger.records == []
