"""The breaker addon in the chain, on a mock upstream: an outage across accounts opens it,
clients then get grok.com's error class with Retry-After before any account is leased, the
half-open probe's first content closes it, accounts are never taken out by 5xx, and a throttle
of the egress (429 on many accounts) lifts the cooldowns its 429s started."""
from __future__ import annotations

import pytest

from addons import build_chain
from addons.breaker import Breaker
from addons.errors import ApiError
from addons.events import End, TextDelta
from addons.pipeline import Pipeline
from addons.services.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow, text_of, tflow
from addons.upstream.base import TransportError, UpstreamTimeout
from addons.upstream.mock import MockResponse, MockTransport
from state.pool import AccountPool
from state.settings import Settings

TOKENS = [f"tok-{n}-0123456789abcdef" for n in range(8)]
SERVER_ERROR = MockResponse(503, body='{"error":{"code":14,"message":"Service unavailable"}}')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream(MockTransport):
    """Answers every try with `self.answer` (a MockResponse, or a factory of one)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        super().__init__(lambda _req: self.answer() if callable(self.answer) else self.answer)


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={
        "GROK_RETRY_BACKOFF_BASE_MS": "0", "GROK_RETRY_ON_CODES": "429,502,503,504",
        "GROK_BREAKER_MIN_FAILURES": "4", "GROK_BREAKER_MIN_ACCOUNTS": "3",
        "GROK_BREAKER_OPEN_SEC": "5", "GROK_BREAKER_MAX_OPEN_SEC": "20"})


def setup(settings, transport, tokens=TOKENS):
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    clock = Clock()
    breaker = chain.get(Breaker)
    breaker.service = CircuitBreaker(settings, clock)
    return Pipeline(chain, transport, settings), pool, breaker.service, clock


async def failing_request(pipeline) -> ApiError:
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, tflow(stream=False))
    return info.value


async def test_an_outage_opens_it_and_clients_get_the_error_at_once(settings):
    upstream = Upstream(SERVER_ERROR)
    pipeline, pool, breaker, clock = setup(settings, upstream)
    first = await failing_request(pipeline)  # two tries, two accounts
    assert first.status == 502 and first.retry_after is None
    second = await failing_request(pipeline)  # the fourth failure, on a fourth account
    assert breaker.state == OPEN
    assert (second.status, second.code) == (503, "upstream_unavailable")
    assert second.retry_after == pytest.approx(5) and second.retry_after_header == "5"
    sent = len(upstream.requests)
    for _ in range(5):
        refused = await failing_request(pipeline)
        assert (refused.status, refused.code) == (503, "upstream_unavailable")
        assert refused.retry_after_header == "5" and "upstream 503" in refused.message
    assert len(upstream.requests) == sent == 4  # nothing more was sent
    # no account was leased for a refused request, and none was taken out by the 5xx
    assert pool.count_inflight() == 0
    for token in TOKENS:
        acc = pool.get(token)
        assert acc.status == "active" and not pool.mode_cooling(token, "fast")


async def test_a_stream_refused_while_open_is_a_plain_http_error(settings):
    pipeline, _, breaker, _ = setup(settings, Upstream(SERVER_ERROR))
    for _ in range(2):
        await failing_request(pipeline)
    flow = tflow(stream=True)
    with pytest.raises(ApiError) as info:
        await pipeline.open(flow)  # before the stream starts: headers can carry Retry-After
    assert info.value.status == 503 and info.value.retry_after_header == "5"


async def test_the_half_open_probe_closes_it_at_its_first_content(settings):
    upstream = Upstream(SERVER_ERROR)
    pipeline, pool, breaker, clock = setup(settings, upstream)
    for _ in range(2):
        await failing_request(pipeline)
    assert breaker.state == OPEN
    clock.now += 5
    upstream.answer = MockResponse(200, [[TextDelta("back")], [TextDelta(" again")], [End()]])
    probe = tflow(stream=True)
    await pipeline.open(probe)
    assert breaker.state == HALF_OPEN and breaker.is_probe(probe.id)
    # meanwhile everyone else is still told to wait, a second at a time
    other = await failing_request(pipeline)
    assert other.status == 503 and other.retry_after_header == "1"
    events = pipeline.events(probe)
    first = await events.__anext__()
    assert text_of(first) == "back" and breaker.state == CLOSED  # before the answer ended
    rest = [e async for batch in events for e in batch]
    await pipeline.close(probe)
    assert text_of(rest) == " again"
    assert text_of(await run_flow(pipeline, tflow(stream=False))) == "back again"


async def test_a_failed_probe_opens_it_for_twice_as_long(settings):
    upstream = Upstream(lambda: MockResponse(200, [TransportError("curl: (56) reset")]))
    pipeline, pool, breaker, clock = setup(settings, upstream)
    for _ in range(2):
        await failing_request(pipeline)
    clock.now += 5
    probe = await failing_request(pipeline)
    assert probe.status == 502  # its own failure: a connection that broke
    assert breaker.state == OPEN
    refused = await failing_request(pipeline)
    assert refused.retry_after == pytest.approx(10) and refused.status == 502


async def test_a_failure_after_the_answer_started_still_counts(settings):
    stalled = MockResponse(200, [[TextDelta("partial")], UpstreamTimeout("idle", 60)])
    pipeline, pool, breaker, _ = setup(settings, Upstream(stalled))
    for _ in range(4):
        flow = tflow(stream=True)
        with pytest.raises(ApiError) as info:
            await run_flow(pipeline, flow)
        assert flow.committed and info.value.status == 504
    assert breaker.state == OPEN and breaker.status == 504
    assert all(pool.get(t).status == "active" for t in TOKENS)


async def test_one_bad_account_never_opens_it(settings):
    def answer(request):
        if request.headers["Cookie"].startswith(f"sso={TOKENS[0]}"):
            return SERVER_ERROR
        return MockResponse.text("fine")

    pipeline, pool, breaker, _ = setup(settings, MockTransport(answer), TOKENS[:2])
    for _ in range(20):
        assert text_of(await run_flow(pipeline, tflow(stream=False))) == "fine"
    assert breaker.state == CLOSED
    assert pool.get(TOKENS[0]).status == "active"  # a score penalty only


async def test_client_errors_never_open_it(settings):
    rejected = MockResponse(400, body='{"error":{"code":3,"message":"bad request"}}')
    pipeline, _, breaker, _ = setup(settings, Upstream(rejected))
    for _ in range(10):
        assert (await failing_request(pipeline)).status == 502
    assert breaker.state == CLOSED


async def test_an_egress_throttle_is_a_429_and_lifts_the_accounts_cooldowns(settings):
    throttled = MockResponse(429, body='{"error":{"code":8,"message":"Too many requests"}}')
    upstream = Upstream(throttled)
    pipeline, pool, breaker, _ = setup(settings, upstream)
    first = await failing_request(pipeline)
    assert first.status == 429 and first.retry_after is None
    cooled = [t for t in TOKENS if pool.mode_cooling(t, "fast")]
    assert len(cooled) == 2  # one account's 429 is evidence about its quota, at first
    refused = await failing_request(pipeline)
    assert breaker.state == OPEN
    assert (refused.status, refused.code) == (429, "upstream_throttled")
    assert refused.retry_after_header == "5"
    # four accounts at once: the egress, not their quotas; nobody stays cooled for it
    assert not any(pool.mode_cooling(t, "fast") for t in TOKENS)
    assert all(pool.get(t).status == "active" for t in TOKENS)


async def test_a_throttle_after_busy_traffic_lifts_the_cooldowns_it_started(settings):
    """The window is full of successes when the egress gets throttled: the 429s never make
    up half of it, but on several accounts with nothing succeeding since, they are the
    egress's, so the pool is not left cooling for a minute."""
    upstream = Upstream(lambda: MockResponse.text("fine"))
    pipeline, pool, breaker, clock = setup(settings, upstream)
    for _ in range(40):
        assert text_of(await run_flow(pipeline, tflow(stream=False))) == "fine"
    clock.now += 1
    upstream.answer = MockResponse(429, body='{"error":{"code":8,"message":"Too many requests"}}')
    await failing_request(pipeline)  # two accounts' 429s: their quotas, for all we know
    assert len([t for t in TOKENS if pool.mode_cooling(t, "fast")]) == 2
    refused = await failing_request(pipeline)
    assert breaker.state == OPEN and breaker.reason == "throttled"
    assert refused.status == 429
    assert not any(pool.mode_cooling(t, "fast") for t in TOKENS)
