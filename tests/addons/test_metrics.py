"""The metrics addon on a mock transport: each upstream try counted once with its outcome
(an in-band failure after a 200 included, and a failure after the stream started, which no
`responseheaders` sees), requests by status class and key name, tokens, in-flight gauges."""
from __future__ import annotations

import pytest

from addons import build_chain
from addons.errors import ApiError
from addons.events import TextDelta, UpstreamFailure
from addons.flow import ClientKey
from addons.metrics import Metrics, _key_label
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow, tflow
from addons.upstream.base import TransportError
from addons.upstream.mock import MockResponse, MockTransport
from state.pool import AccountPool
from state.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def setup(settings, *answers):
    pool = AccountPool(None)
    for token in ("a", "b"):
        pool.add(token, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    return Pipeline(chain, MockTransport.script(*answers), settings), chain.get(Metrics).metrics


def count(metrics, metric, *labels) -> float:
    return metrics.registry.get_sample_value(metric, dict(zip(LABELS[metric], labels))) or 0.0


LABELS = {
    "grok2api_upstream_calls_total": ("status", "outcome"),
    "grok2api_requests_total": ("endpoint", "model", "status", "key"),
    "grok2api_tokens_total": ("kind", "model", "key"),
    "grok2api_requests_in_flight": (), "grok2api_streams_in_flight": (),
    "grok2api_time_to_first_token_seconds_count": ("endpoint", "model"),
}


async def test_an_inband_failure_after_a_200_is_one_failed_try(settings):
    broken = MockResponse(200, [[UpstreamFailure(429, "Too many requests")]])
    pipeline, metrics = setup(settings, broken, MockResponse.text("fine"))
    flow = tflow("hi", stream=True)
    await run_flow(pipeline, flow)
    assert count(metrics, "grok2api_upstream_calls_total", "429", "rate_limited") == 1
    assert count(metrics, "grok2api_upstream_calls_total", "200", "ok") == 1
    assert count(metrics, "grok2api_requests_total", "openai.chat", "grok-4.20-fast", "2xx",
                 "open") == 1
    assert count(metrics, "grok2api_tokens_total", "completion", "grok-4.20-fast",
                 "open") == flow.usage.completion_tokens > 0
    assert count(metrics, "grok2api_time_to_first_token_seconds_count", "openai.chat",
                 "grok-4.20-fast") == 1
    assert count(metrics, "grok2api_requests_in_flight") == 0
    assert count(metrics, "grok2api_streams_in_flight") == 0


async def test_a_failure_after_the_stream_started_is_counted_in_finish(settings):
    broken = MockResponse(200, [[TextDelta("partial")], TransportError("reset")])
    pipeline, metrics = setup(settings, broken)
    flow = tflow("hi", stream=True)
    with pytest.raises(ApiError):
        await run_flow(pipeline, flow)
    assert count(metrics, "grok2api_upstream_calls_total", "502", "connection") == 1
    assert count(metrics, "grok2api_upstream_calls_total", "200", "ok") == 0
    assert count(metrics, "grok2api_requests_total", "openai.chat", "grok-4.20-fast", "5xx",
                 "open") == 1
    assert count(metrics, "grok2api_tokens_total", "prompt", "grok-4.20-fast", "open") == 0
    assert count(metrics, "grok2api_requests_in_flight") == 0


async def test_a_model_nobody_serves_is_a_4xx_without_a_model_label(settings):
    pipeline, metrics = setup(settings)
    with pytest.raises(ApiError):
        await run_flow(pipeline, tflow("hi", model="no-such-model", stream=False))
    assert count(metrics, "grok2api_requests_total", "openai.chat", "-", "4xx", "open") == 1
    assert count(metrics, "grok2api_upstream_calls_total", "200", "ok") == 0


def test_the_key_label_is_a_name_never_a_key():
    flow = tflow("hi")
    flow.api_key = "sk-secret-value-0123456789"
    assert _key_label(flow) == "app"
    flow.client = ClientKey("k1", "team-a")
    assert _key_label(flow) == "team-a"
    refused = tflow("hi")
    refused.error = ApiError(401, "Invalid API key")
    assert _key_label(refused) == "none"
    assert _key_label(tflow("hi")) == "open"


def test_label_values_are_capped():
    metrics = Metrics().metrics
    metrics.key_cap.cap = 2
    assert [metrics.key_cap(v) for v in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]
