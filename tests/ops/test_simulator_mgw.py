"""The simulator's mgw WebSocket and session identity lookup, over real sockets, and the
REST plan → mgw event conversion."""
from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from addons.events import End, ReasoningDelta, SearchSources, TextDelta, UpstreamFailure
from addons.upstream.frames import FrameParser
from addons.upstream.mgw_events import MgwEventParser
from ops.simulator.chat import build_plan, expected_text, parse_directives
from ops.simulator.mgw_plan import mgw_events
from tests.ops.simhelpers import auth_headers

MGW = "/ws/mgw/"
SESSION = "/api/auth/session"


def ws_headers(sim, token: str = "tok", uid: str | None = None) -> dict[str, str]:
    uid = uid if uid is not None else sim.state.tokens[token].user_id
    return {"Origin": "https://grok.com", "Cookie": f"sso={token}; sso-rw={token}; x-userid={uid}"}


def ws_url(sim, token: str = "tok", uid: str | None = None) -> str:
    uid = uid if uid is not None else sim.state.tokens[token].user_id
    return f"{sim.url}{MGW}?uid={uid}"


async def turn(ws, message: str, model: str = "fast", *, files: list[str] | None = None,
               extra_x: dict | None = None, session_id: str | None = None) -> list[dict[str, Any]]:
    """session.create → item → response.create; every server frame until done/error/close."""
    create: dict[str, Any] = {"event": {"type": "session.create", "event_id": "evt_init_t",
                                        "session": {"model": model, "x_grok": extra_x or {"is_temporary": True}}}}
    if session_id:
        create["session_id"] = session_id
    await ws.send_str(orjson.dumps(create).decode())
    got = [orjson.loads((await ws.receive()).data) for _ in range(2)]
    sid = got[0]["session_id"]
    item: dict[str, Any] = {"type": "conversation.item.create", "event_id": "evt_msg_1",
                            "item": {"type": "message", "role": "user",
                                     "x_grok": {"input_chunks": [{"text": {"text": message}}]}}}
    if files:
        item["file_attachment_ids"] = files
    await ws.send_str(orjson.dumps({"session_id": sid, "event": {"type": "ping", "event_id": "evt_hb_1"}}).decode())
    await ws.send_str(orjson.dumps({"session_id": sid, "event": item}).decode())
    await ws.send_str(orjson.dumps({"session_id": sid, "event": {"type": "response.create"}}).decode())
    while True:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            return got
        frame = orjson.loads(msg.data)
        got.append(frame)
        if frame["event"]["type"] in ("response.done", "error"):
            return got


def kinds(frames: list[dict]) -> list[str]:
    return [f["event"]["type"] for f in frames]


async def test_session_identity(sim, session):
    async with session.get(sim.url + SESSION, headers=auth_headers("tok")) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["status"] == "authenticated"
    assert body["session"]["userId"] == sim.state.tokens["tok"].user_id
    async with session.get(sim.url + SESSION, headers=auth_headers("nope")) as resp:
        assert resp.status == 401 and "invalid-credentials" in await resp.text()


async def test_turn_frames_and_recording(sim, session):
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "[[sim tokens=3]]", "expert")
    assert kinds(frames[:2]) == ["session.created", "conversation.attached"]
    sid = frames[0]["session_id"]
    assert frames[0]["event"]["client_event_id"] == "evt_init_t"
    assert frames[1]["event"]["conversation"]["id"] == sid and all(f["session_id"] == sid for f in frames)
    chunks = [f["event"]["chunk"]["text"] for f in frames if f["event"]["type"] == "response.chunk"]
    assert {c["channel"] for c in chunks} == {"CHANNEL_ANALYSIS", "CHANNEL_ASSISTANT_RESPONSE"}
    assert "".join(c["text"] for c in chunks if c["channel"] == "CHANNEL_ASSISTANT_RESPONSE") == "w0 w1 w2 "
    assert frames[-1]["event"] == {"type": "response.done",
                                   "response": {"id": frames[-1]["event"]["response"]["id"], "status": "completed"}}
    (record,) = sim.state.mgw_sessions
    assert record.token == "tok" and record.conversation_id == sid
    assert kinds(record.frames) == ["session.create", "ping", "conversation.item.create", "response.create"]
    assert record.model == "expert" and record.message == "[[sim tokens=3]]" and record.file_ids == []
    assert sim.state.stats()["completed_streams"] == 1
    window = sim.state.tokens["tok"].quotas["expert"]
    assert window.remaining == window.total - 1


async def test_search_turn_has_tool_cards_results_and_a_citation(sim, session):
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "[[sim search=1 think=0]]")
    chunks = [f["event"]["chunk"] for f in frames if f["event"]["type"] == "response.chunk"]
    assert chunks[0]["tool_usage_card"]["web_search"] == {"args": {"query": "grok simulator search"}}
    assert any("web_search" in c.get("tool_result", {}) for c in chunks)
    assert any("x_post" in c.get("tool_result", {}) for c in chunks)
    (cite,) = [c["render_citation"] for c in chunks if "render_citation" in c]
    assert cite["url"] == "https://en.wikipedia.org/wiki/Paris" and cite["kind"] == "CITATION_KIND_WEB_PAGE"
    assert "response.search.result" in kinds(frames)
    text = "".join(c["text"]["text"] for c in chunks if "text" in c)
    assert "<grok:render" not in text


async def test_continuation_keeps_the_conversation(sim, session):
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "again", session_id="conv_7",
                            extra_x={"conversation_id": "conv_7", "load_existing": True, "needs_history": False})
    assert frames[0]["session_id"] == "conv_7" and frames[1]["event"]["conversation"]["id"] == "conv_7"
    assert frames[-1]["event"]["type"] == "response.done"


@pytest.mark.parametrize("token,uid,status,marker", [
    ("nope", "x", 401, "invalid-credentials"),
    ("tok", "someone-else", 403, "uid does not match"),
])
async def test_refused_handshake_and_body_replay(sim, session, token, uid, status, marker):
    headers = {"Cookie": f"sso={token}; sso-rw={token}; x-userid={uid}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(f"{sim.url}{MGW}?uid={uid}", headers=headers)
    assert info.value.status == status
    async with session.get(f"{sim.url}{MGW}?uid={uid}", headers=headers) as resp:
        assert resp.status == status and marker in await resp.text()


async def test_http_fault_refuses_the_handshake(sim, session):
    sim.state.inject("403_blocked")  # injected for the chat path: applies to mgw too
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(ws_url(sim), headers=ws_headers(sim))
    assert info.value.status == 403
    async with session.get(ws_url(sim), headers=ws_headers(sim)) as resp:
        assert resp.status == 403 and "blocked-user" in await resp.text()
    async with session.get(ws_url(sim), headers=ws_headers(sim)) as resp:
        assert resp.status == 426  # the refusal is replayed once


@pytest.mark.parametrize("message,model,code", [
    ("[[sim fault=inband_first]]", "fast", 8),
    ("[[sim fault=429]]", "fast", 8),
    ("[[sim fault=usage_limit]]", "fast", None),
    ("hi", "heavy", 3),  # not allowed for a super token
    ("  ", "fast", 3),
])
async def test_in_band_errors(sim, session, message, model, code):
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, message, model)
    err = frames[-1]["event"]
    assert err["type"] == "error" and err["error"]["code"] == code


async def test_quota_and_attachments(sim, session):
    sim.state.set_quota("tok", "fast", 0)
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "hi")
        assert frames[-1]["event"]["error"] == {"code": 8, "message": "Too many requests"}
    sim.state.set_quota("tok", "fast", 5)
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "hi", files=["not-uploaded"])
        assert "Unknown file attachment" in frames[-1]["event"]["error"]["message"]
    item = sim.state.add_file(sim.state.tokens["tok"], "a.png", "image/png", b"png")
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "hi", files=[item.file_id])
        assert frames[-1]["event"]["type"] == "response.done"
    assert sim.state.mgw_sessions[-1].file_ids == [item.file_id]


async def test_ended_mid_closes_the_socket_cleanly_without_done(sim, session):
    sim.state.inject("ended_mid")
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "[[sim tokens=8 think=0]]")
        assert ws.close_code == aiohttp.WSCloseCode.OK  # a close frame, not a dropped socket
    assert "response.done" not in kinds(frames) and "error" not in kinds(frames)
    texts = [f["event"]["chunk"]["text"]["text"] for f in frames
             if f["event"]["type"] == "response.chunk"]
    assert "".join(texts) == "w0 w1 w2 "


async def test_truncated_sends_half_an_event_then_drops_without_done(sim, session):
    sim.state.inject("truncated")
    raw: list[str] = []
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        create = {"event": {"type": "session.create", "event_id": "e1",
                            "session": {"model": "fast", "x_grok": {"is_temporary": True}}}}
        await ws.send_str(orjson.dumps(create).decode())
        sid = orjson.loads((await ws.receive()).data)["session_id"]
        await ws.receive()  # conversation.attached
        item = {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                "x_grok": {"input_chunks": [{"text": {"text": "[[sim tokens=8 think=0]]"}}]}}}
        for event in (item, {"type": "response.create"}):
            await ws.send_str(orjson.dumps({"session_id": sid, "event": event}).decode())
        while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
            raw.append(msg.data)
        assert ws.close_code != aiohttp.WSCloseCode.OK  # dropped, no close handshake
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw[-1])
    whole = [orjson.loads(m)["event"] for m in raw[:-1]]
    assert [e["chunk"]["text"]["text"] for e in whole] == ["w0 ", "w1 ", "w2 "]


async def test_cut_drops_the_connection_without_done(sim, session):
    sim.state.inject("cut_mid")
    async with session.ws_connect(ws_url(sim), headers=ws_headers(sim)) as ws:
        frames = await turn(ws, "[[sim tokens=8]]")
    assert "response.done" not in kinds(frames) and "error" not in kinds(frames)


# ---- plan conversion: the mgw events parse to what the REST frames parse to --------------

def parse_rest(frames: list[dict]) -> list:
    parser = FrameParser()
    out = parser.feed(b"".join(orjson.dumps(f) + b"\n" for f in frames))
    return out + parser.close()


def parse_mgw(message: str, mode: str) -> list:
    plan = build_plan(message, mode, parse_directives(message))
    parser = MgwEventParser()
    out: list = []
    for _delay, event in mgw_events(plan, "s").events:
        out += parser.feed(orjson.dumps(event))
    return out


def summary(events: list) -> tuple:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    urls = sorted(s["url"] for e in events if isinstance(e, SearchSources) for s in e.sources)
    failures = [e.status for e in events if isinstance(e, UpstreamFailure)]
    return text, reasoning, urls, failures, any(isinstance(e, End) for e in events)


@pytest.mark.parametrize("message,mode", [
    ("[[sim tokens=4]]", "fast"), ("hi", "expert"), ("[[sim split_tag=1]]", "fast"),
    ("[[sim utf8=1]]", "fast"), ("[[sim fault=inband_mid tokens=6]]", "fast"),
    ("[[sim fault=usage_limit]]", "fast"), ("[[sim fault=stream_errors]]", "fast"),
    ("[[sim fault=empty]]", "fast"),
])
def test_conversion_matches_rest(message, mode):
    rest = summary(parse_rest(build_plan(message, mode, parse_directives(message)).frames))
    assert summary(parse_mgw(message, mode)) == rest


def test_conversion_of_search_and_heavy_reasoning():
    text, reasoning, urls, failures, ended = summary(parse_mgw("[[sim search=1]]", "heavy"))
    rest = summary(parse_rest(build_plan("[[sim search=1]]", "heavy").frames))
    assert urls == rest[2] and not failures and ended
    assert text.replace(text[text.index("<grok:render"):text.index("</grok:render>") + 14], "") \
        == expected_text("hi")
    assert "🔍 web_search: grok simulator search" in reasoning and "📋 chatroom_send" in reasoning
    assert "Thinking step 0." in reasoning
