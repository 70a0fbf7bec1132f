"""grok.com's 403s over real sockets, each with its own outcome: the simulator as grok.com (with
its Cloudflare emulation), a stand-in FlareSolverr, the gateway on Hypercorn.

* an anti-bot refusal: a fresh x-statsig-id, one more try on the same account, no penalty;
* an account code: the account expires with its reason, shown in the admin API, and the
  request fails over;
* a Cloudflare challenge: in mode `flaresolverr` one solve for the egress, then the solved
  cookie and its browser's User-Agent on every request; in mode `manual` the operator is told
  which cookie is stale, and a pasted cookie works at once."""
from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from addons.upstream.config import DEFAULT_USER_AGENT
from ops.simulator.state import CHAT_PATH, MGW_PATH, RATE_LIMITS_PATH, SESSION_PATH
from tests.integration.flaresolverr import SOLVER_UA, FakeFlareSolverr

KEY = "adm-key-edge"
MODEL = "grok-4.20-fast"


async def ask(stack, text: str = "hi"):
    """One buffered chat: (status, body)."""
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json={
                "model": MODEL, "messages": [{"role": "user", "content": text}]}) as resp:
            return resp.status, await resp.json()


def cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def breaker_challenges(stack) -> int:
    return stack.gateway.services.breaker.snapshot()["window"]["failures"]["challenge"]


# ---------------------------------------------------------------------- anti-bot
@pytest.mark.parametrize("fault", ["403_antibot", "inband_antibot_first"])
async def test_an_anti_bot_refusal_is_cured_with_a_fresh_statsig_on_the_same_account(stack, fault):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject(fault)
    status, body = await ask(stack)
    assert status == 200 and body["choices"][0]["message"]["content"]
    first, second = stack.chat_attempts()
    assert first.token == second.token
    assert first.headers["x-statsig-id"] != second.headers["x-statsig-id"]
    acc = stack.gateway.pool.get(first.token)
    assert acc.status == "active" and acc.usage_fail_count == 0 and acc.last_fail_reason == ""
    assert breaker_challenges(stack) == 0


async def test_a_refused_fixed_statsig_is_replaced_by_a_generated_one(stack):
    stack.sim.state.strict_statsig = True  # grok.com refuses the old `e:` values
    await stack.start_gateway(GROK_FEATURES_DYNAMIC_STATSIG="false")
    stack.add_account("tok-a", "basic")
    for _ in range(2):
        assert (await ask(stack))[0] == 200
    sent = [base64.b64decode(r.headers["x-statsig-id"]).decode()[:3]
            for r in stack.chat_attempts()]
    assert sent == ["e:T", "x1:", "e:T", "x1:"]  # each request: refused, then cured


async def test_a_second_anti_bot_refusal_reaches_the_client_as_a_403(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    stack.sim.state.inject("403_antibot", times=2)
    status, body = await ask(stack)
    assert status == 403 and "upstream 403, anti_bot" in body["error"]["message"]
    assert "Request rejected" not in body["error"]["message"]
    assert len(stack.chat_attempts()) == 2
    assert breaker_challenges(stack) == 1
    assert all(a.status == "active" for a in stack.gateway.pool.all())


# ---------------------------------------------------------------------- account codes
@pytest.mark.parametrize(("fault", "reason", "last_error"), [
    ("403_blocked", "blocked-user", "403 unauthorized:blocked-user"),
    ("403_blocked_flat", "blocked-user", "403 unauthorized:blocked-user"),
    ("403_email_rejected", "email-domain-rejected", "403 account:email-domain-rejected"),
    ("401_bad_credentials", "bad-credentials", "401 unauthenticated:bad-credentials"),
])
async def test_an_account_code_expires_the_account_with_its_reason(stack, fault, reason,
                                                                  last_error):
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    stack.add_account("tok-dead-0123456789", "basic")
    stack.add_account("tok-live-0123456789", "basic")
    stack.sim.state.inject(fault, token="tok-dead-0123456789")
    stack.gateway.pool.get("tok-live-0123456789").health = 0.5  # the dead one goes first
    status, _ = await ask(stack)
    assert status == 200
    assert stack.chat_tokens() == ["tok-dead-0123456789", "tok-live-0123456789"]
    async with stack.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.get("/admin/api/tokens") as resp:
            rows = {r["token"]: r for r in (await resp.json())["tokens"]}
    dead = rows["tok-dead-0123456789"]
    assert (dead["status"], dead["state"]) == ("expired", "invalid")
    assert dead["state_reason"] == reason and dead["last_fail_reason"] == last_error
    assert dead["last_fail_at"] is not None
    assert rows["tok-live-0123456789"]["status"] == "active"


# ---------------------------------------------------------------------- Cloudflare
async def flaresolverr_stack(stack, **kw) -> FakeFlareSolverr:
    solver = await FakeFlareSolverr(stack.sim.state, **kw).start()
    stack.sim.state.cloudflare = True
    await stack.start_gateway(GROK_PROXY__CLEARANCE__MODE="flaresolverr",
                              GROK_PROXY__CLEARANCE__FLARESOLVERR_URL=solver.url,
                              GROK_PROXY__CLEARANCE__TIMEOUT_SEC="7",
                              GROK_APP_APP_KEY=KEY)
    stack.add_account("tok-a", "basic")
    stack.add_account("tok-b", "basic")
    return solver


@pytest.mark.parametrize("chat_transport", ["rest", "mgw"])
async def test_a_challenge_is_solved_once_and_the_solved_cookie_and_agent_go_out(stack, caplog):
    caplog.set_level(logging.DEBUG)
    solver = await flaresolverr_stack(stack)
    try:
        status, _ = await ask(stack)
        assert status == 200
        assert len(solver.calls) == 1
        assert solver.calls[0] == {"cmd": "request.get", "url": stack.sim.url, "maxTimeout": 7000}
        # over mgw the first call is the account's session lookup, then the handshake
        challenged, *after = [r for r in stack.sim.state.requests
                              if r.path in (CHAT_PATH, SESSION_PATH, MGW_PATH)]
        assert challenged.headers["user-agent"] == DEFAULT_USER_AGENT
        assert cookie(challenged.headers, "cf_clearance") is None
        assert after and all(r.token == challenged.token for r in after)  # the same account
        for sent in after:
            assert sent.headers["user-agent"] == SOLVER_UA
            assert cookie(sent.headers, "cf_clearance") == solver.issued[0]
            assert cookie(sent.headers, "__cf_bm") == "bm-solved"
        passed = stack.chat_attempts()[-1]
        assert cookie(passed.headers, "cf_clearance") == solver.issued[0]
        if not stack.mgw:  # the REST call's client hints follow the solving browser
            assert '"131"' in passed.headers["sec-ch-ua"]
            assert passed.headers["sec-ch-ua-platform"] == '"Linux"'
        # the next request passes at once, and so does the quota probe
        attempts = len(stack.chat_attempts())
        assert (await ask(stack))[0] == 200
        assert len(stack.chat_attempts()) == attempts + 1 and len(solver.calls) == 1
        for _ in range(100):
            probes = stack.sim.state.requests_to(RATE_LIMITS_PATH)
            if probes and cookie(probes[-1].headers, "cf_clearance") == solver.issued[0]:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("no probe carried the solved clearance")
        assert breaker_challenges(stack) == 0
        async with stack.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with http.get("/admin/api/status") as resp:
                shown = (await resp.json())["clearance"]
        assert shown["mode"] == "flaresolverr" and shown["solves"] == 1
        (egress,) = shown["egresses"]
        assert egress["egress"] == "direct" and egress["user_agent"] == SOLVER_UA
        assert egress["cookies"] == ["cf_clearance", "__cf_bm"]
        assert solver.issued[0] not in str(shown)
        assert "solved for egress direct: cookies cf_clearance, __cf_bm" in caplog.text
        assert solver.issued[0] not in caplog.text  # the cookie's value is never logged
    finally:
        await solver.stop()


async def test_concurrent_challenges_trigger_one_solve(stack):
    solver = await flaresolverr_stack(stack, delay=0.2)
    try:
        results = await asyncio.gather(*(ask(stack, f"q{i}") for i in range(6)))
        assert [status for status, _ in results] == [200] * 6
        assert len(solver.calls) == 1
        passed = [r for r in stack.sim.state.requests_to(CHAT_PATH)
                  if cookie(r.headers, "cf_clearance") == solver.issued[0]]
        assert len(passed) == 6
    finally:
        await solver.stop()


async def test_an_expired_clearance_is_solved_again(stack):
    solver = await flaresolverr_stack(stack)
    try:
        assert (await ask(stack))[0] == 200
        stack.sim.state.revoke_clearances()  # Cloudflare expired it
        stack.gateway.services.clearance._started.clear()  # (the solve gap is over)
        assert (await ask(stack))[0] == 200
        assert len(solver.calls) == 2
        assert cookie(stack.chat_attempts()[-1].headers, "cf_clearance") == solver.issued[1]
    finally:
        await solver.stop()


async def test_a_failed_solve_gives_the_client_the_challenge(stack):
    solver = await flaresolverr_stack(stack, fail=True)
    try:
        for _ in range(2):
            status, body = await ask(stack)
            assert status == 403 and "upstream 403, challenge" in body["error"]["message"]
            assert "Just a moment" not in body["error"]["message"]
        assert len(solver.calls) == 1  # solves of one egress are spaced out
        assert all(cookie(r.headers, "cf_clearance") is None for r in stack.chat_attempts())
    finally:
        await solver.stop()


async def test_manual_mode_tells_the_operator_which_cookie_is_stale(stack, caplog):
    stack.sim.state.cloudflare = True
    await stack.start_gateway(GROK_PROXY__CLEARANCE__MODE="manual")
    stack.add_account("tok-a", "basic")
    settings = stack.gateway.services.settings
    settings.set("proxy.clearance.cf_cookies", "cf_clearance=stale-value-123; __cf_bm=x")
    with caplog.at_level(logging.WARNING, logger="addons.services.clearance"):
        for _ in range(3):
            status, body = await ask(stack)
            assert status == 403 and "challenge" in body["error"]["message"]
    notices = [r.getMessage() for r in caplog.records if r.name == "addons.services.clearance"]
    assert len(notices) == 1, notices  # once per interval, not per request
    assert "cf_clearance cookie of proxy.clearance.cf_cookies is stale" in notices[0]
    assert "stale-value-123" not in caplog.text
    # the operator pastes a fresh cookie from a browser with the configured agent
    fresh = stack.sim.state.issue_clearance(DEFAULT_USER_AGENT)
    settings.set("proxy.clearance.cf_cookies", f"cf_clearance={fresh}")
    assert (await ask(stack))[0] == 200
    assert cookie(stack.chat_attempts()[-1].headers, "cf_clearance") == fresh
