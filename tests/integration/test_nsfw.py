"""The NSFW sequence over real sockets: the gateway's curl transport against the simulator,
which checks the exact bytes and headers (accounts.x.ai served on the simulator's origin)."""
from __future__ import annotations

import asyncio
import re

from addons.services.nsfw import nsfw_disable, nsfw_enable
from ops.simulator.state import BIRTH_DATE_PATH, FEATURE_CONTROLS_PATH, TOS_PATH
from state.account import token_label

TOKEN = "eyJhbGciOiJIUzI1NiJ9.nsfw-int.sig"
NSFW_ON = bytes.fromhex("00000000200a021001121a0a18") + b"always_show_nsfw_content"


async def eventually(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_full_sequence_tags_the_account_and_sets_the_flags(stack):
    await stack.start_gateway()
    stack.add_account(TOKEN, "super")
    result = await nsfw_enable(stack.gateway.services, TOKEN)
    assert result == {"token": token_label(TOKEN), "action": "enable", "ok": True,
                      "steps": {"tos": "accepted", "birth_date": "set", "nsfw": "enabled"}}
    sim_tok = stack.sim.state.tokens[TOKEN]
    assert sim_tok.tos_accepted and sim_tok.nsfw
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sim_tok.birth_date)
    assert "nsfw" in stack.gateway.pool.get(TOKEN).tags
    # in order, one call each, the exact bytes on the wire
    paths = [r.path for r in stack.sim.state.requests
             if r.path in (TOS_PATH, BIRTH_DATE_PATH, FEATURE_CONTROLS_PATH)]
    assert paths == [TOS_PATH, BIRTH_DATE_PATH, FEATURE_CONTROLS_PATH]
    [tos] = stack.sim.state.requests_to(TOS_PATH)
    [birth] = stack.sim.state.requests_to(BIRTH_DATE_PATH)
    [nsfw] = stack.sim.state.requests_to(FEATURE_CONTROLS_PATH)
    assert tos.body == bytes.fromhex("00000000021001") and nsfw.body == NSFW_ON
    assert birth.body == b'{"birthDate":"' + sim_tok.birth_date.encode() + b'"}'
    assert tos.headers["referer"] == "https://accounts.x.ai/accept-tos"
    assert nsfw.headers["referer"] == birth.headers["referer"] == "https://grok.com/?_s=data"
    assert tos.token == nsfw.token == TOKEN
    # the tag is persisted: a restarted gateway still has it
    await asyncio.sleep(0.2)
    await stack.restart_gateway()
    assert "nsfw" in stack.gateway.pool.get(TOKEN).tags
    # disable turns the control off and drops the tag
    result = await nsfw_disable(stack.gateway.services, TOKEN)
    assert result["ok"] and not sim_tok.nsfw and "nsfw" not in stack.gateway.pool.get(TOKEN).tags


async def test_birth_date_already_set_continues(stack):
    await stack.start_gateway()
    stack.add_account(TOKEN, "super")
    stack.sim.state.tokens[TOKEN].birth_date = "1990-05-05T10:00:00.000Z"
    stack.sim.state.grpc_web_text = True  # base64 replies, status also in headers
    stack.sim.state.grpc_status_header = True
    result = await nsfw_enable(stack.gateway.services, TOKEN)
    assert result["ok"] and result["steps"]["birth_date"] == "already_set"
    sim_tok = stack.sim.state.tokens[TOKEN]
    assert sim_tok.nsfw and sim_tok.birth_date == "1990-05-05T10:00:00.000Z"
    assert "nsfw" in stack.gateway.pool.get(TOKEN).tags


async def test_blocked_user_marker_expires_the_account(stack):
    await stack.start_gateway()
    stack.add_account(TOKEN, "super", status="blocked")
    result = await nsfw_enable(stack.gateway.services, TOKEN)
    assert not result["ok"] and result["failed_step"] == "tos"
    assert result["expired"] == "blocked-user" and result["status"] == 403
    acc = stack.gateway.pool.get(TOKEN)
    assert acc.status == "expired" and "nsfw" not in acc.tags
    assert not stack.sim.state.requests_to(FEATURE_CONTROLS_PATH)
    # a marker in a gRPC trailer (grpc-status 16) expires too
    other = TOKEN + "2"
    stack.add_account(other, "super")
    stack.sim.state.inject("grpc_16", path=FEATURE_CONTROLS_PATH)
    result = await nsfw_enable(stack.gateway.services, other)
    assert result["expired"] == "invalid-credentials" and result["failed_step"] == "nsfw"
    await eventually(lambda: stack.gateway.pool.get(other).status == "expired")
