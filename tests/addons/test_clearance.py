"""grok.com's edge refusals through the whole chain on a mock transport: an anti-bot refusal is
tried again on the same account with a fresh x-statsig-id, a Cloudflare challenge with a newly
solved clearance, an account code expires the account with its reason; neither edge refusal
costs the account anything or counts for the circuit breaker once it was cured."""
from __future__ import annotations

import base64

import pytest

from addons import build_chain
from addons.breaker import Breaker
from addons.clearance import Clearance
from addons.errors import ApiError
from addons.events import End, UpstreamFailure
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow, text_of, tflow
from addons.upstream.clearance import Via
from addons.upstream.config import FIXED_STATSIG_ID
from addons.upstream.flaresolverr import Solution
from addons.upstream.mock import MockResponse, MockTransport
from state.pool import AccountPool
from state.settings import Settings

ANTI_BOT = '{"error":{"message":"Request rejected by anti-bot rules.","code":7,"details":[]}}'
CLOUDFLARE = ('<!doctype html><html><head><title>Just a moment...</title></head><body>'
              '<div id="challenge-platform"></div></body></html>')
BLOCKED = '{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}'
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def ok(text: str = "fine") -> MockResponse:
    return MockResponse.text(text)


def setup(tmp_path, transport, *tokens, solver=None, **env):
    settings = Settings(tmp_path / "config.toml",
                        environ={"GROK_RETRY_BACKOFF_BASE_MS": "0", **env})
    pool = AccountPool(None)
    for token in tokens:
        pool.add(token, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    if solver is not None:
        chain.get(Clearance).service._solver = solver
    return Pipeline(chain, transport, settings), pool, chain


def statsig_of(request) -> str:
    return base64.b64decode(request.headers["x-statsig-id"]).decode()


def breaker_failures(chain) -> dict:
    return chain.get(Breaker).service.snapshot()["window"]["failures"]


@pytest.mark.parametrize("refusal", [
    MockResponse(403, [], ANTI_BOT),
    MockResponse(200, [[UpstreamFailure(502, "Request rejected by anti-bot rules.", ANTI_BOT)]]),
], ids=["http-403", "in-band"])
async def test_an_anti_bot_refusal_is_tried_again_on_the_same_account(tmp_path, refusal):
    transport = MockTransport.script(refusal, ok())
    pipeline, pool, chain = setup(tmp_path, transport, "a", "b")
    flow = tflow()
    assert text_of(await run_flow(pipeline, flow)) == "fine"
    first, second = transport.requests
    assert transport.tokens[0] == transport.tokens[1]  # the same account, no failover
    assert first.headers["x-statsig-id"] != second.headers["x-statsig-id"]
    acc = pool.get(transport.tokens[0])
    assert acc.usage_fail_count == 0 and acc.health == 1.0 and acc.last_fail_reason == ""
    assert breaker_failures(chain)["challenge"] == 0  # cured: not an outage
    assert flow.statsig_renewed


async def test_a_fixed_statsig_refused_is_replaced_by_a_generated_one(tmp_path):
    transport = MockTransport.script(MockResponse(403, [], ANTI_BOT), ok())
    pipeline, _, _ = setup(tmp_path, transport, "a", GROK_FEATURES_DYNAMIC_STATSIG="false")
    await run_flow(pipeline, tflow())
    first, second = transport.requests
    assert first.headers["x-statsig-id"] == FIXED_STATSIG_ID
    assert statsig_of(second).startswith("x1:TypeError")


async def test_a_second_anti_bot_refusal_ends_the_request_as_one(tmp_path):
    transport = MockTransport.script(MockResponse(403, [], ANTI_BOT),
                                     MockResponse(403, [], ANTI_BOT), ok("never"))
    pipeline, pool, chain = setup(tmp_path, transport, "a", "b")
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, tflow())
    assert info.value.status == 403 and "upstream 403, anti_bot" in info.value.message
    assert "anti-bot rules" in info.value.message and "Request rejected" not in info.value.message
    assert len(transport.requests) == 2 and len(set(transport.tokens)) == 1
    assert breaker_failures(chain)["challenge"] == 1  # this one counts
    acc = pool.get(transport.tokens[0])
    assert acc.status == "active" and acc.usage_fail_count == 1  # scored, never taken out


def noting(via: Via, *answers: MockResponse):
    """A transport that notes the egress as the real one does (`request.via`)."""
    queue = list(answers)

    def handler(request):
        request.via = via
        return queue.pop(0)
    return MockTransport(handler)


class Solver:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, url, page, proxy, timeout) -> Solution:
        self.calls += 1
        return Solution("cf_clearance=new", UA, ("cf_clearance",))


async def test_a_challenge_is_solved_and_tried_again_on_the_same_account(tmp_path):
    solver = Solver()
    transport = noting(Via(None, 0), MockResponse(403, [], CLOUDFLARE), ok())
    pipeline, pool, chain = setup(
        tmp_path, transport, "a", "b", solver=solver,
        GROK_PROXY__CLEARANCE__MODE="flaresolverr",
        GROK_PROXY__CLEARANCE__FLARESOLVERR_URL="http://127.0.0.1:8191")
    assert text_of(await run_flow(pipeline, tflow())) == "fine"
    assert solver.calls == 1 and transport.tokens[0] == transport.tokens[1]
    assert chain.get(Clearance).service.store.get(None).user_agent == UA
    assert pool.get(transport.tokens[0]).usage_fail_count == 0
    assert breaker_failures(chain)["challenge"] == 0


async def test_a_challenge_that_nothing_can_solve_ends_as_a_challenge(tmp_path):
    solver = Solver()
    transport = noting(Via(None, 0), MockResponse(403, [], CLOUDFLARE), ok("never"))
    pipeline, _, chain = setup(tmp_path, transport, "a", "b", solver=solver,
                               GROK_PROXY__CLEARANCE__MODE="manual")
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, tflow())
    assert info.value.status == 403 and "upstream 403, challenge" in info.value.message
    assert solver.calls == 0 and len(transport.requests) == 1
    assert breaker_failures(chain)["challenge"] == 1


async def test_a_blocked_user_expires_the_account_with_its_reason_and_fails_over(tmp_path):
    transport = MockTransport.script(MockResponse(403, [], BLOCKED), ok())
    pipeline, pool, _ = setup(tmp_path, transport, "a", "b")
    events = await run_flow(pipeline, tflow())
    assert text_of(events) == "fine" and isinstance(events[-1], End)
    blocked, served = transport.tokens
    acc = pool.get(blocked)
    assert acc.status == "expired" and acc.state_reason == "blocked-user"
    assert acc.last_fail_reason == "403 unauthorized:blocked-user"
    assert pool.get(served).status == "active"
