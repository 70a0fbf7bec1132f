"""The imagine WebSocket: stages, moderation, R-rated slots, errors, reuse and refusals."""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import aiohttp
import orjson
import pytest

from ops.simulator.media import generated_image, jpeg_dimensions
from tests.ops.simhelpers import auth_headers, post_json

WS = "/ws/imagine/listen"


def _reset() -> dict[str, Any]:
    return {"type": "conversation.item.create", "timestamp": int(time.time() * 1000),
            "item": {"type": "message", "content": [{"type": "reset"}]}}


def _request(prompt: str, kind: str = "input_text", **props: Any) -> dict[str, Any]:
    properties = {"section_count": 0, "is_kids_mode": False, "enable_nsfw": True,
                  "skip_upsampler": False, "enable_side_by_side": True, "is_initial": False,
                  "aspect_ratio": "2:3", "enable_pro": False, **props}
    return {"type": "conversation.item.create", "timestamp": int(time.time() * 1000),
            "item": {"type": "message", "content": [{"requestId": str(uuid.uuid4()), "text": prompt,
                                                     "type": kind, "properties": properties}]}}


async def _round(ws: aiohttp.ClientWebSocketResponse, *frames: dict[str, Any]) -> list[dict[str, Any]]:
    """Send frames; collect server frames until every started slot completed or an error."""
    for frame in frames:
        await ws.send_str(orjson.dumps(frame).decode())
    got: list[dict[str, Any]] = []
    started, completed = 0, 0
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = orjson.loads(msg.data)
        got.append(frame)
        if frame["type"] == "error":
            return got
        if frame["type"] == "json":
            started += frame["current_status"] == "start_stage"
            completed += frame["current_status"] == "completed"
            if started and completed == started:
                return got


def _slots(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per image id: order, the image frames' (percent, bytes, url) and the completed frame."""
    slots: dict[str, dict[str, Any]] = {}
    for f in frames:
        if f["type"] == "json":
            slot = slots.setdefault(f["image_id"], {"images": []})
            slot[f["current_status"]] = f
        elif f["type"] == "image":
            image_id = f["url"].rsplit("/", 1)[1].removesuffix(".jpg")
            slots[image_id]["images"].append((f["percentage_complete"], base64.b64decode(f["blob"]), f["url"]))
    return slots


def _connect(session, sim, token="tok"):
    return session.ws_connect(sim.url + WS, headers=auth_headers(token, statsig=None))


async def test_round_with_stages_and_public_final(sim, session):
    prompt = "a cat floating in space"
    async with _connect(session, sim) as ws:
        frames = await _round(ws, _reset(), _request(prompt, aspect_ratio="16:9"))
    slots = _slots(frames)
    assert len(slots) == 6  # speed mode
    for image_id, slot in slots.items():
        order = slot["start_stage"]["order"]
        assert (slot["start_stage"]["width"], slot["start_stage"]["height"]) == (1280, 720)
        percents = [p for p, _, _ in slot["images"]]
        assert percents == sorted(percents) and percents[-1] == 100 and len(percents) == 3
        sizes = [len(base64.b64encode(b)) for _, b, _ in slot["images"]]
        assert sizes[0] < 30_000 < sizes[1] < 100_000 <= sizes[2]
        final = slot["images"][-1][1]
        assert final == generated_image(prompt, "16:9", "final", order)
        assert jpeg_dimensions(final) == (1280, 720)
        assert slot["completed"]["moderated"] is False and slot["completed"]["r_rated"] is False
        url = slot["images"][-1][2]
        assert f"/images/{image_id}.jpg" in url
        async with session.get(url) as r:  # public: no cookie
            assert r.status == 200 and await r.read() == final


async def test_pro_count_and_old_content_type_and_socket_reuse(sim, session):
    async with _connect(session, sim) as ws:
        pro = _slots(await _round(ws, _request("a", enable_pro=True)))
        assert len(pro) == 4
        counted = _slots(await _round(ws, _reset(), _request("b", kind="input_scroll", num_generations=2)))
        assert len(counted) == 2
    assert sim.state.imagine_sessions[-1].rounds == 2


async def test_moderated_and_r_rated_slots(sim, session):
    sim.state.tokens["tok"].nsfw = False
    prompt = "a scene [[sim moderated=0 rrated=1,2]]"
    async with _connect(session, sim) as ws:
        slots = _slots(await _round(ws, _request(prompt, num_generations=4)))
    by_order = {s["start_stage"]["order"]: s for s in slots.values()}
    for order in (0, 1, 2):  # withheld: no final stage, nothing served at the URL
        slot = by_order[order]
        assert slot["completed"]["moderated"] is True
        assert max(p for p, _, _ in slot["images"]) < 100
        async with session.get(slot["images"][-1][2]) as r:
            assert r.status == 404
    assert by_order[1]["completed"]["r_rated"] is True and by_order[0]["completed"]["r_rated"] is False
    assert by_order[3]["completed"]["moderated"] is False

    # with NSFW on the account and in the request, R-rated slots are delivered, flagged
    sim.state.tokens["tok"].nsfw = True
    async with _connect(session, sim) as ws:
        slots = _slots(await _round(ws, _request(prompt, num_generations=4)))
    by_order = {s["start_stage"]["order"]: s for s in slots.values()}
    assert by_order[1]["completed"] == {**by_order[1]["completed"], "moderated": False, "r_rated": True}
    assert by_order[1]["images"][-1][0] == 100
    assert by_order[0]["completed"]["moderated"] is True


async def test_error_frame_quota_and_close(sim, session):
    async with _connect(session, sim) as ws:
        frames = await _round(ws, _request("x [[sim error=rate_limit_exceeded]]"))
        assert frames == [{"type": "error", "err_code": "rate_limit_exceeded", "err_msg": "simulated error"}]
        sim.state.set_quota("tok", "imagePro", 0)
        frames = await _round(ws, _request("y", enable_pro=True))
        assert frames[-1]["err_code"] == "rate_limit_exceeded"
        # the socket survives both; a close directive ends it after the round
        await _round(ws, _request("z [[sim close=1]]", num_generations=1))
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


@pytest.mark.parametrize(("fault", "status"), [("429", 429), ("403_cloudflare", 403), ("403_antibot", 403)])
async def test_handshake_refusals(sim, session, fault, status):
    await post_json(session, sim.url + "/__sim/faults", {"fault": fault, "path": WS})
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        async with _connect(session, sim):
            pass
    assert info.value.status == status
    async with session.get(sim.url + WS, headers=auth_headers("tok")) as r:  # replays the refusal
        assert r.status == status
    async with _connect(session, sim) as ws:  # one-shot: the next handshake succeeds
        assert not ws.closed


async def test_handshake_needs_the_account_cookies(sim, session):
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        async with _connect(session, sim, token=None):
            pass
    assert info.value.status == 401


async def test_each_round_draws_new_images_and_stale_repeats_the_last_ones(sim, session):
    async with _connect(session, sim) as ws:
        first = _slots(await _round(ws, _reset(), _request("fox", num_generations=2)))
        second = _slots(await _round(ws, _reset(), _request("fox", num_generations=2)))
        stale = _slots(await _round(ws, _reset(), _request("owl [[sim stale=1]]", num_generations=2)))
    def finals(slots):
        return {s["start_stage"]["order"]: s["images"][-1][1] for s in slots.values()}
    assert finals(first) == {k: generated_image("fox", "2:3", "final", k) for k in range(2)}
    assert finals(second) == {k: generated_image("fox", "2:3", "final", 2 + k) for k in range(2)}
    assert finals(stale) == finals(second) and set(stale) == set(second)  # same ids and bytes
