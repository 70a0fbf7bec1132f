"""Simulator account maintenance: exact bytes and headers, flags, replies."""
from __future__ import annotations

import base64

import orjson
import pytest

from ops.simulator.state import BIRTH_DATE_PATH, FEATURE_CONTROLS_PATH, TOS_JSON_PATH, TOS_PATH
from tests.ops.simhelpers import auth_headers, post_json

TOS_BODY = bytes.fromhex("00000000021001")
NSFW_ON = bytes.fromhex("00000000200a021001121a0a18") + b"always_show_nsfw_content"
NSFW_OFF = bytes.fromhex("00000000200a021000121a0a18") + b"always_show_nsfw_content"
#: The minimal successful reply: an empty data frame, then the trailer `grpc-status:0`.
MINIMAL_OK = bytes.fromhex("0000000000800000000f") + b"grpc-status:0\r\n"
GRPC = {"Content-Type": "application/grpc-web+proto", "Accept": "*/*", "x-grpc-web": "1",
        "x-user-agent": "connect-es/2.1.1", "Cache-Control": "no-cache", "Pragma": "no-cache",
        "Sec-Fetch-Dest": "empty"}
BIRTH = {"birthDate": "1994-07-19T13:42:05.317Z"}


def tos_headers(token: str = "tok", **extra: str) -> dict[str, str]:
    return {**auth_headers(token, statsig=None), **GRPC, "Origin": "https://accounts.x.ai",
            "Referer": "https://accounts.x.ai/accept-tos", **extra}


def grok_headers(token: str = "tok", grpc: bool = True, **extra: str) -> dict[str, str]:
    base = {**auth_headers(token), "Referer": "https://grok.com/?_s=data"}
    if grpc:
        base.update(GRPC)
    return {**base, **extra}


async def post_raw(session, url: str, body: bytes, headers: dict[str, str]):
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def post_birth(session, sim, payload: dict[str, str]):
    """Compact JSON as the clients send it (aiohttp's `json=` adds spaces)."""
    headers = {**grok_headers(grpc=False), "Content-Type": "application/json"}
    status, _, body = await post_raw(session, sim.url + BIRTH_DATE_PATH, orjson.dumps(payload),
                                     headers)
    return status, orjson.loads(body)


async def test_full_sequence_flips_flags_and_answers_the_minimal_reply(sim, session):
    sim_tok = sim.state.tokens["tok"]
    assert (sim_tok.tos_accepted, sim_tok.birth_date, sim_tok.nsfw) == (False, None, False)
    status, headers, body = await post_raw(session, sim.url + TOS_PATH, TOS_BODY, tos_headers())
    assert (status, body) == (200, MINIMAL_OK)
    assert headers["Content-Type"] == "application/grpc-web+proto"
    assert "grpc-status" not in headers
    assert sim_tok.tos_accepted
    assert await post_birth(session, sim, BIRTH) == (200, {})
    assert sim_tok.birth_date == BIRTH["birthDate"]
    status, _, body = await post_raw(session, sim.url + FEATURE_CONTROLS_PATH, NSFW_ON,
                                     grok_headers())
    assert (status, body) == (200, MINIMAL_OK) and sim_tok.nsfw
    status, _, body = await post_raw(session, sim.url + FEATURE_CONTROLS_PATH, NSFW_OFF,
                                     grok_headers(Referer="https://grok.com/"))
    assert (status, body) == (200, MINIMAL_OK) and not sim_tok.nsfw
    # the flags are visible through the control API
    async with session.get(sim.url + "/__sim/tokens") as resp:
        view = (await resp.json())["tokens"][0]
    assert view | {"tosAccepted": True, "birthDate": BIRTH["birthDate"], "nsfw": False} == view


async def test_second_birth_date_is_the_change_limit(sim, session):
    assert (await post_birth(session, sim, BIRTH))[0] == 200
    status, data = await post_birth(session, sim, {"birthDate": "1990-01-02T03:04:05.006Z"})
    assert status == 429
    assert "[WKE=account:birth-date-change-limit-reached]" in data["error"]["message"]
    assert sim.state.tokens["tok"].birth_date == BIRTH["birthDate"]


@pytest.mark.parametrize("body", [
    b'{"birthDate": "1994-07-19T13:42:05.317Z"}',  # not the compact shape
    b'{"birthDate":"1994-07-19"}',
    b'{"birthDate":"1994-07-19T13:42:05.317Z","x":1}',
    b'{"birthDate":"2020-07-19T13:42:05.317Z"}',  # a child
])
async def test_birth_date_body_is_checked(sim, session, body):
    headers = {**grok_headers(grpc=False), "Content-Type": "application/json"}
    status, _, reply = await post_raw(session, sim.url + BIRTH_DATE_PATH, body, headers)
    assert status == 400, reply
    assert sim.state.tokens["tok"].birth_date is None


@pytest.mark.parametrize(("path", "body", "headers"), [
    (TOS_PATH, TOS_BODY[:-1] + b"\x00", tos_headers()),
    (TOS_PATH, TOS_BODY, tos_headers(Origin="https://grok.com")),
    (TOS_PATH, TOS_BODY, tos_headers(Referer="https://grok.com/")),
    (TOS_PATH, TOS_BODY, tos_headers(**{"x-grpc-web": "0"})),
    (TOS_PATH, TOS_BODY, tos_headers(**{"Content-Type": "application/grpc-web"})),
    (TOS_PATH, b"\x10\x01", tos_headers()),  # unframed
    (FEATURE_CONTROLS_PATH, NSFW_ON + b"\x00", grok_headers()),
    (FEATURE_CONTROLS_PATH, NSFW_ON, grok_headers(Referer="https://grok.com/imagine")),
    (FEATURE_CONTROLS_PATH, NSFW_ON, grok_headers(**{"x-user-agent": "grpc-web-js/0.1"})),
    (FEATURE_CONTROLS_PATH, NSFW_ON, grok_headers(**{"Pragma": "cache"})),
])
async def test_grpc_bytes_and_headers_are_checked(sim, session, path, body, headers):
    sim.state.tokens["tok"].tos_accepted = path == FEATURE_CONTROLS_PATH
    sim.state.tokens["tok"].birth_date = "1990-01-01T00:00:00.000Z"
    status, _, reply = await post_raw(session, sim.url + path, body, headers)
    assert status == 400 and b"rejected" in reply
    assert not sim.state.tokens["tok"].nsfw
    assert sim.state.tokens["tok"].tos_accepted == (path == FEATURE_CONTROLS_PATH)


async def test_nsfw_before_tos_and_birth_date_is_failed_precondition(sim, session):
    status, _, body = await post_raw(session, sim.url + FEATURE_CONTROLS_PATH, NSFW_ON,
                                     grok_headers())
    assert status == 200 and b"grpc-status:9\r\n" in body and not sim.state.tokens["tok"].nsfw


async def test_status_headers_and_grpc_web_text(sim, session):
    sim.state.grpc_status_header = True
    sim.state.grpc_web_text = True
    status, headers, body = await post_raw(session, sim.url + TOS_PATH, TOS_BODY, tos_headers())
    assert status == 200 and headers["grpc-status"] == "0"
    assert headers["Content-Type"] == "application/grpc-web-text+proto"
    pieces = [base64.b64decode(p + b"=" * (-len(p) % 4)) for p in body.split(b"=") if p]
    assert b"".join(pieces) == MINIMAL_OK


async def test_faults_auth_and_recording(sim, session):
    sim.state.inject("grpc_16", path=TOS_PATH)
    status, _, body = await post_raw(session, sim.url + TOS_PATH, TOS_BODY, tos_headers())
    assert status == 200 and b"grpc-status:16\r\n" in body and b"invalid-credentials" in body
    assert not sim.state.tokens["tok"].tos_accepted
    sim.state.add_token("blk", "super", "blocked")
    status, _, body = await post_raw(session, sim.url + TOS_PATH, TOS_BODY, tos_headers("blk"))
    assert status == 403 and b"blocked-user" in body
    sim.state.inject("403_blocked", path=FEATURE_CONTROLS_PATH)
    status, _, body = await post_raw(session, sim.url + FEATURE_CONTROLS_PATH, NSFW_ON,
                                     grok_headers())
    assert status == 403 and b"blocked-user" in body
    recorded = sim.state.requests_to(TOS_PATH)[0]
    assert recorded.body == TOS_BODY and recorded.headers["origin"] == "https://accounts.x.ai"


async def test_json_terms_call(sim, session):
    status, data, _ = await post_json(session, sim.url + TOS_JSON_PATH, {"tosVersion": 5},
                                      auth_headers("tok"))
    assert (status, data) == (200, {}) and sim.state.tokens["tok"].tos_accepted
    status, _, _ = await post_json(session, sim.url + TOS_JSON_PATH, {"tosVersion": "5"},
                                   auth_headers("tok"))
    assert status == 400


async def test_control_api_registers_flags_and_config(sim, session):
    payload = {"tokens": [{"token": "flagged", "tier": "super", "tosAccepted": True,
                           "birthDate": "1990-01-01T00:00:00.000Z", "nsfw": True}]}
    async with session.post(sim.url + "/__sim/tokens", data=orjson.dumps(payload)) as resp:
        view = (await resp.json())["tokens"][0]
    assert (view["tosAccepted"], view["nsfw"]) == (True, True)
    async with session.post(sim.url + "/__sim/config",
                            data=orjson.dumps({"grpc_web_text": True})) as resp:
        assert (await resp.json())["grpc_web_text"] is True
    sim.state.reset()
    assert sim.state.grpc_web_text is False
