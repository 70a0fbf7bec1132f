"""The simulator's Cloudflare emulation: a clearance is a cookie bound to the User-Agent it was
issued for, and every grok.com path answers the interstitial without one."""
from __future__ import annotations

from ops.simulator.state import TOS_PATH
from tests.ops.simhelpers import CHAT, RATE_LIMITS, auth_headers, chat_payload, post_json

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def headers(cf: str | None = None, ua: str = UA) -> dict[str, str]:
    out = auth_headers("tok")
    out["User-Agent"] = ua
    if cf is not None:
        out["Cookie"] += f"; cf_clearance={cf}; __cf_bm=x"
    return out


async def _chat_status(session, sim, hdrs) -> tuple[int, str, str | None]:
    async with session.post(sim.url + CHAT, json=chat_payload("hi"), headers=hdrs) as resp:
        return resp.status, await resp.text(), resp.headers.get("Server")


async def test_off_by_default(sim, session):
    assert (await _chat_status(session, sim, headers()))[0] == 200


async def test_a_clearance_passes_only_with_the_user_agent_it_was_issued_for(sim, session):
    await post_json(session, sim.url + "/__sim/config", {"cloudflare": True})
    status, body, server = await _chat_status(session, sim, headers())
    assert (status, server) == (403, "cloudflare") and "<title>Just a moment...</title>" in body
    _, issued, _ = await post_json(session, sim.url + "/__sim/clearance", {"user_agent": UA})
    cf = issued["cf_clearance"]
    assert (await _chat_status(session, sim, headers(cf)))[0] == 200
    assert (await _chat_status(session, sim, headers(cf, ua=UA + " other")))[0] == 403
    assert (await _chat_status(session, sim, headers("forged")))[0] == 403
    # every grok.com path is behind it, the accounts host's is not
    status, _, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": "fast"},
                                   headers())
    assert status == 403
    async with session.post(sim.url + TOS_PATH, data=b"\x00\x00\x00\x00\x02\x10\x01",
                            headers=headers()) as resp:
        assert resp.headers.get("Server") != "cloudflare" and "Just a moment" not in await resp.text()
    # expiry: revoked clearances are challenged again
    async with session.delete(sim.url + "/__sim/clearance") as resp:
        assert resp.status == 200
    assert (await _chat_status(session, sim, headers(cf)))[0] == 403
    # the challenged requests were recorded, so a test can see what was sent
    assert len(sim.state.requests_to(CHAT)) == 5


async def test_the_control_api_refuses_a_clearance_without_a_user_agent(sim, session):
    status, body, _ = await post_json(session, sim.url + "/__sim/clearance", {})
    assert status == 400 and "user_agent" in body["error"]
