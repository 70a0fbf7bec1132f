"""Cookie/statsig checks, payload validation, quota windows and rate-limits."""
from __future__ import annotations

import asyncio

import pytest

from tests.ops.simhelpers import CHAT, RATE_LIMITS, STATSIG_E, auth_headers, chat, chat_payload, post_json


async def _chat_status(session, sim, headers, payload=None):
    status, body, resp = await post_json(session, sim.url + CHAT, payload or chat_payload("hi"), headers)
    return status, body, resp


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no cookie at all
        {"Cookie": "sso=tok"},  # sso-rw missing
        {"Cookie": "sso=tok; sso-rw=other"},  # not equal
        {"Cookie": "sso=nobody; sso-rw=nobody"},  # unknown
    ],
)
async def test_bad_cookies_401_with_marker(sim, session, headers):
    status, body, _ = await _chat_status(session, sim, {**headers, "x-statsig-id": "abc"})
    assert status == 401
    assert body == {"error": {"code": 16, "message": "Invalid credentials [WKE=unauthorized:invalid-credentials]",
                              "details": []}}


async def test_account_states(sim, session):
    sim.state.add_token("exp", "super", "expired")
    sim.state.add_token("blk", "super", "blocked")
    sim.state.add_token("eml", "super", "email_rejected")
    status, body, _ = await _chat_status(session, sim, auth_headers("exp"))
    assert status == 401 and "invalid-credentials" in body["error"]["message"]
    status, body, _ = await _chat_status(session, sim, auth_headers("blk"))
    assert status == 403
    assert body == {"error": {"code": 7, "message": "User is blocked [WKE=unauthorized:blocked-user]", "details": []}}
    status, body, _ = await _chat_status(session, sim, auth_headers("eml"))
    assert status == 403 and "email-domain-rejected" in body["error"]["message"]
    # rate-limits and upload use the same checks
    status, body, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": "fast"}, auth_headers("blk"))
    assert status == 403 and "blocked-user" in body["error"]["message"]


async def test_statsig_checks(sim, session):
    antibot = {"error": {"message": "Request rejected by anti-bot rules.", "code": 7, "details": []}}
    status, body, _ = await _chat_status(session, sim, auth_headers("tok", statsig=None))
    assert (status, body) == (403, antibot)
    status, _, _ = await _chat_status(session, sim, auth_headers("tok", statsig=STATSIG_E))
    assert status == 200  # e: accepted unless strict
    sim.state.strict_statsig = True
    status, body, _ = await _chat_status(session, sim, auth_headers("tok", statsig=STATSIG_E))
    assert (status, body) == (403, antibot)
    status, _, _ = await _chat_status(session, sim, auth_headers("tok"))
    assert status == 200  # x1: passes strict mode
    sim.state.require_statsig = False
    sim.state.strict_statsig = False
    status, _, _ = await _chat_status(session, sim, auth_headers("tok", statsig=None))
    assert status == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"modeId": "fast"},
        {"message": "", "modeId": "fast"},
        {"message": 5, "modeId": "fast"},
        {"message": "hi", "modeId": "turbo"},
        {"message": "hi"},
        {"message": "hi", "modeId": "fast", "fileAttachments": ["no-such-file"]},
    ],
)
async def test_payload_validation_400(sim, session, payload):
    status, body, _ = await _chat_status(session, sim, auth_headers("tok"), payload)
    assert status == 400 and body["error"]["code"] == 3


async def test_mode_tier_rules(sim, session):
    st = sim.state
    st.add_token("basic")
    st.add_token("heavy", "heavy")
    cases = [("basic", "fast", 200), ("basic", "auto", 400), ("basic", "expert", 400),
             ("tok", "auto", 200), ("tok", "heavy", 400), ("tok", "grok-420-computer-use-sa", 200),
             ("basic", "grok-420-computer-use-sa", 400), ("heavy", "heavy", 200)]
    for token, mode, expected in cases:
        status, _, _ = await _chat_status(session, sim, auth_headers(token), chat_payload("hi", mode))
        assert status == expected, (token, mode)


async def _rate(session, sim, token, mode):
    status, body, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": mode}, auth_headers(token))
    assert status == 200
    return body


async def test_rate_limits_defaults_and_tier_inference(sim, session):
    sim.state.add_token("basic")
    sim.state.add_token("heavy", "heavy")
    assert await _rate(session, sim, "basic", "fast") == {
        "windowSizeSeconds": 86400, "remainingQueries": 30, "totalQueries": 30,
        "lowEffortRateLimits": None, "highEffortRateLimits": None}
    assert (await _rate(session, sim, "basic", "auto"))["totalQueries"] == 20
    assert (await _rate(session, sim, "tok", "auto"))["totalQueries"] == 50
    assert (await _rate(session, sim, "tok", "fast"))["totalQueries"] == 140
    assert (await _rate(session, sim, "heavy", "auto"))["totalQueries"] == 150
    assert (await _rate(session, sim, "heavy", "heavy"))["totalQueries"] == 20
    assert (await _rate(session, sim, "tok", "heavy"))["totalQueries"] == 0
    status, _, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": "nope"}, auth_headers("tok"))
    assert status == 400


async def test_quota_consumption_and_429(sim, session):
    st = sim.state
    st.set_quota("tok", "expert", 2)
    for left in (1, 0):
        status, _, _ = await chat(session, sim, "hi", "expert")
        assert status == 200
        assert (await _rate(session, sim, "tok", "expert"))["remainingQueries"] == left
    status, body, _ = await _chat_status(session, sim, auth_headers("tok"), chat_payload("hi", "expert"))
    assert status == 429
    assert body == {"error": {"code": 8, "message": "Too many requests", "details": []}}
    # an exhausted mode says how long until it can be used again; one with quota left does not
    st.advance_time(7000)
    assert (await _rate(session, sim, "tok", "expert"))["waitTimeSeconds"] in (199, 200, 201)
    assert "waitTimeSeconds" not in await _rate(session, sim, "tok", "fast")
    st.advance_time(-7000)
    # other modes are independent
    assert (await _rate(session, sim, "tok", "fast"))["remainingQueries"] == 140
    # the window refills after windowSizeSeconds
    st.advance_time(7201)
    assert (await _rate(session, sim, "tok", "expert"))["remainingQueries"] == 50


async def test_concurrent_chats_never_overdraw(sim, session):
    sim.state.set_quota("tok", "fast", 3)
    results = await asyncio.gather(*(chat(session, sim, "[[sim tokens=3 delay_ms=5]]") for _ in range(8)))
    assert sorted(r[0] for r in results) == [200] * 3 + [429] * 5


async def test_quota_disabled(sim, session):
    sim.state.set_quota("tok", "fast", 0)
    sim.state.quota_enabled = False
    status, _, _ = await chat(session, sim, "hi")
    assert status == 200
