"""Injected and directive-driven faults, and disconnect accounting."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from ops.simulator.errors import USAGE_LIMIT_MESSAGE
from tests.ops.simhelpers import CHAT, RATE_LIMITS, answer_of, auth_headers, chat, chat_payload, post_json, responses


async def _remaining(session, sim, mode="fast", token="tok"):
    _, body, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": mode}, auth_headers(token))
    return body["remainingQueries"]


async def _wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("fault", "status", "marker"),
    [
        ("401", 401, "invalid-credentials"),
        ("403_antibot", 403, "anti-bot"),
        ("403_blocked", 403, "[WKE=unauthorized:blocked-user]"),
        ("403_blocked_flat", 403, '"code":"unauthorized:blocked-user"'),
        ("403_email_rejected", 403, "[WKE=account:email-domain-rejected]"),
        ("401_bad_credentials", 401, "[WKE=unauthenticated:bad-credentials]"),
        ("403_policy", 403, "content-moderated"),
        ("429", 429, "Too many requests"),
        ("500", 500, '"code"'),
        ("502", 502, '"code"'),
        ("503", 503, '"code"'),
    ],
)
async def test_http_faults(sim, session, fault, status, marker):
    sim.state.inject(fault)
    before = await _remaining(session, sim)
    async with session.post(sim.url + CHAT, json=chat_payload("hi"), headers=auth_headers("tok")) as r:
        body = await r.text()
        assert r.status == status
        assert r.headers["Content-Type"].startswith("application/json")
    assert marker in body
    assert await _remaining(session, sim) == before  # no quota taken
    status2, _, _ = await chat(session, sim, "hi")  # times=1: next call is fine
    assert status2 == 200


async def test_cloudflare_and_empty_403(sim, session):
    sim.state.inject("403_cloudflare")
    sim.state.inject("403_empty")
    async with session.post(sim.url + CHAT, json=chat_payload("hi"), headers=auth_headers("tok")) as r:
        assert r.status == 403 and r.headers["Server"] == "cloudflare"
        assert "<title>Just a moment...</title>" in await r.text()
    async with session.post(sim.url + CHAT, json=chat_payload("hi"), headers=auth_headers("tok")) as r:
        assert r.status == 403 and await r.read() == b""


async def test_fault_targeting_times_and_path(sim, session):
    sim.state.add_token("other", "super")
    sim.state.inject("503", token="other", times=2)
    sim.state.inject("429", path=RATE_LIMITS)
    assert (await chat(session, sim, "hi"))[0] == 200  # tok unaffected
    assert (await chat(session, sim, "hi", token="other"))[0] == 503
    assert (await chat(session, sim, "hi", token="other"))[0] == 503
    assert (await chat(session, sim, "hi", token="other"))[0] == 200
    status, body, _ = await post_json(session, sim.url + RATE_LIMITS, {"modelName": "fast"}, auth_headers("tok"))
    assert status == 429 and body["error"]["code"] == 8
    assert not sim.state.faults


async def test_directive_http_fault(sim, session):
    for _ in range(2):  # a directive fault applies every time the message is sent
        assert (await chat(session, sim, "[[sim fault=502]]"))[0] == 502


@pytest.mark.parametrize(
    ("fault", "first"),
    [
        ("inband_first", {"error": {"code": 8, "message": "Too many requests", "details": []}}),
        ("inband_antibot_first", {"error": {"message": "Request rejected by anti-bot rules.", "code": 7, "details": []}}),
    ],
)
async def test_inband_first(sim, session, fault, first):
    sim.state.inject(fault)
    before = await _remaining(session, sim)
    status, frames, _ = await chat(session, sim, "hi")
    assert status == 200 and frames == [first]
    assert await _remaining(session, sim) == before


async def test_inband_mid(sim, session):
    before = await _remaining(session, sim)
    status, frames, _ = await chat(session, sim, "[[sim tokens=10 fault=inband_mid]]")
    assert status == 200
    assert answer_of(frames) == "w0 w1 w2 "
    assert frames[-1] == {"error": {"code": 13, "message": "internal", "details": []}}
    assert await _remaining(session, sim) == before - 1


async def test_usage_limit_and_stream_errors(sim, session):
    sim.state.inject("usage_limit")
    _, frames, _ = await chat(session, sim, "hi")
    assert responses(frames)[-1]["error"] == {"message": USAGE_LIMIT_MESSAGE}
    sim.state.inject("stream_errors")
    _, frames, _ = await chat(session, sim, "hi")
    model = next(r["modelResponse"] for r in responses(frames) if "modelResponse" in r)
    assert model["streamErrors"] == [{"code": 13, "message": "internal"}]


async def test_empty(sim, session):
    sim.state.inject("empty")
    _, frames, _ = await chat(session, sim, "hi")
    rs = responses(frames)
    assert "conversation" in frames[0]["result"]
    assert not any(r.get("token") for r in rs)
    assert rs[-1]["isSoftStop"] is True


async def test_cut_mid_breaks_the_body(sim, session):
    sim.state.inject("cut_mid")
    got: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.post(sim.url + CHAT, json=chat_payload("[[sim tokens=20]]"),
                                headers=auth_headers("tok")) as r:
            assert r.status == 200
            async for line in r.content:
                got.append(line)
    text = answer_of([orjson.loads(x) for x in got if x.strip()])
    assert text == "w0 w1 w2 "
    await _wait_for(lambda: sim.state.active_streams == 0)
    assert sim.state.cancelled_streams == 0


_END_MARKERS = ("modelResponse", "isSoftStop", "finalMetadata")


async def test_truncated_last_object(sim, session):
    sim.state.inject("truncated")
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim tokens=8]]"),
                            headers=auth_headers("tok")) as r:
        body = await r.read()  # the HTTP body itself ends cleanly
    lines = body.split(b"\n")
    assert lines[-1] and not body.endswith(b"\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[-1])
    whole = [orjson.loads(x) for x in lines[:-1]]
    # it strikes mid-answer, before any end marker
    assert answer_of(whole) == "w0 w1 w2 "
    assert not any(key in r for r in responses(whole) for key in _END_MARKERS)


@pytest.mark.parametrize(("after", "text"), [(None, "w0 w1 w2 "), (0, ""), (5, "w0 w1 w2 w3 w4 ")])
async def test_ended_mid_ends_the_body_cleanly_before_the_end_markers(sim, session, after, text):
    sim.state.inject("ended_mid", **({} if after is None else {"after_tokens": after}))
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim tokens=8 think=0]]"),
                            headers=auth_headers("tok")) as r:
        body = await r.read()  # no ClientPayloadError: a clean end of the chunked body
    frames = [orjson.loads(x) for x in body.splitlines()]
    assert answer_of(frames) == text
    assert not any(key in r for r in responses(frames) for key in _END_MARKERS)
    await _wait_for(lambda: sim.state.active_streams == 0)
    assert sim.state.cancelled_streams == 0


async def test_stall_then_resume(sim, session):
    sim.state.inject("stall", stall_ms=300)
    t0 = time.perf_counter()
    status, frames, _ = await chat(session, sim, "[[sim tokens=4]]")
    assert status == 200 and answer_of(frames) == "w0 w1 w2 w3 "
    assert time.perf_counter() - t0 >= 0.29


async def test_stall_until_client_leaves(sim, session):
    sim.state.inject("stall")  # default 120 s
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim tokens=10]]"), headers=auth_headers("tok")) as r:
        lines = [await r.content.readline() for _ in range(4)]  # conversation, user, w0, w1
        assert b"w1 " in lines[-1]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(r.content.readline(), 0.3)
        assert sim.state.active_streams == 1
        r.close()
    await _wait_for(lambda: sim.state.active_streams == 0)
    assert sim.state.cancelled_streams == 1


async def test_slow_first_byte(sim, session):
    sim.state.inject("slow_first_byte", first_byte_ms=300)
    t0 = time.perf_counter()
    async with session.post(sim.url + CHAT, json=chat_payload("hi"), headers=auth_headers("tok")) as r:
        assert time.perf_counter() - t0 >= 0.29
        assert r.status == 200
        await r.read()


async def test_disconnect_mid_stream_is_counted(sim, session):
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim tokens=200 delay_ms=20]]"),
                            headers=auth_headers("tok")) as r:
        for _ in range(4):
            await r.content.readline()
        assert sim.state.active_streams == 1
        r.close()
    await _wait_for(lambda: sim.state.active_streams == 0)
    assert sim.state.cancelled_streams == 1
    assert sim.state.completed_streams == 0


async def test_disconnect_during_first_byte_wait(sim, session):
    task = asyncio.create_task(chat(session, sim, "[[sim first_byte_ms=5000]]"))
    await _wait_for(lambda: sim.state.active_streams == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _wait_for(lambda: sim.state.active_streams == 0)
    assert sim.state.cancelled_streams == 1


def test_inject_rejects_unknown_fault():
    from ops.simulator.state import SimulatorState

    with pytest.raises(ValueError):
        SimulatorState().inject("teapot")
