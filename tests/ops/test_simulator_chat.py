"""Chat stream shape and directives, over real sockets."""
from __future__ import annotations

import orjson

from ops.simulator.chat import (
    CITATION_CARD_ID,
    CITATION_RENDER,
    CITATION_URL,
    SPLIT_RENDER,
    SPLIT_TAG_TOKENS,
    SPLIT_ARTIFACT,
    UTF8_TEXT,
    answer_tokens,
    build_plan,
    encode_say,
    expected_text,
    parse_directives,
    split_tag_raw_text,
    split_tag_visible_text,
)
from tests.ops.simhelpers import CHAT, answer_of, auth_headers, chat, chat_payload, responses


def kinds(frames: list[dict]) -> list[str]:
    """A compact label per frame, for order assertions."""
    out = []
    for frame in frames:
        if "conversation" in frame.get("result", {}):
            out.append("conversation")
            continue
        r = frame["result"]["response"]
        if "userResponse" in r:
            out.append("user")
        elif "modelResponse" in r:
            out.append("model")
        elif r.get("isSoftStop"):
            out.append("softstop")
        elif "finalMetadata" in r:
            out.append("final")
        elif r.get("isThinking"):
            out.append("think")
        elif "token" in r:
            out.append("token")
        else:
            out.append("other")
    return out


async def test_fast_frame_order(sim, session):
    status, frames, body = await chat(session, sim, "[user]: hi", "fast")
    assert status == 200
    assert body.endswith(b"\n") and body.count(b"\n") == len(frames)
    assert kinds(frames) == ["conversation", "user", "token", "token", "token", "token", "token",
                             "model", "softstop", "final"]
    rs = responses(frames)
    user_id = rs[0]["userResponse"]["responseId"]
    rid = rs[1]["responseId"]
    assert all(r["responseId"] == rid for r in rs[1:] if "modelResponse" not in r)
    assert all(r["messageTag"] == "final" and r["isThinking"] is False for r in rs[1:6])
    model = rs[6]["modelResponse"]
    assert model["message"] == "Hello from the grok simulator." == answer_of(frames)
    assert model["parentResponseId"] == user_id and model["responseId"] == rid
    assert rs[7] == {"token": "", "isSoftStop": True, "responseId": rid}
    assert rs[8]["finalMetadata"]


async def test_expert_has_thinking_frames(sim, session):
    status, frames, _ = await chat(session, sim, "hi [[sim think_tokens=2]]", "expert")
    assert status == 200
    assert kinds(frames)[:5] == ["conversation", "user", "think", "think", "think"]
    thinking = [r for r in responses(frames) if r.get("isThinking")]
    assert thinking[0]["messageTag"] == "header"
    assert [t["messageTag"] for t in thinking[1:]] == ["summary", "summary"]
    assert all(t["rolloutId"] == "Grok" and isinstance(t["messageStepId"], int) for t in thinking)
    assert kinds(frames)[-3:] == ["model", "softstop", "final"]


async def test_think_override_and_heavy_rollouts(sim, session):
    sim.state.add_token("heavy", "heavy")
    _, frames, _ = await chat(session, sim, "[[sim think=0]]", "expert")
    assert "think" not in kinds(frames)
    _, frames, _ = await chat(session, sim, "[[sim think=1]]", "fast")
    assert "think" in kinds(frames)
    _, frames, _ = await chat(session, sim, "[[sim think_tokens=4]]", "heavy", token="heavy")
    rollouts = {r["rolloutId"] for r in responses(frames) if r.get("isThinking")}
    assert {"Grok", "Agent 1", "Agent 2"} <= rollouts
    cards = [r for r in responses(frames) if r.get("messageTag") == "tool_usage_card"]
    assert len(cards) == 1 and list(cards[0]["toolUsageCard"]) == ["toolUsageCardId", "chatroomSend"]


async def test_tokens_directive_last_block_wins(sim, session):
    msg = "[system]: x [[sim tokens=2]]\n\n[user]: go [[sim tokens=7 delay_ms=1]]"
    _, frames, _ = await chat(session, sim, msg)
    assert answer_of(frames) == "".join(answer_tokens(7)) == expected_text(msg)
    assert [r["token"] for r in responses(frames) if r.get("messageTag") == "final" and "token" in r] == answer_tokens(7)


async def test_say_and_chunk(sim, session):
    text = "Exact answer: 42 — done."
    _, frames, _ = await chat(session, sim, f"[[sim say={encode_say(text)} chunk=5]]")
    tokens = [r["token"] for r in responses(frames) if r.get("messageTag") == "final" and "token" in r]
    assert "".join(tokens) == text
    assert tokens[0] == "Exact" and all(len(t) <= 5 for t in tokens)


async def test_search_frames(sim, session):
    _, frames, _ = await chat(session, sim, "[[sim search=1]]")
    rs = responses(frames)
    tool = [r for r in rs if r.get("messageTag") == "tool_usage_card"]
    assert tool and tool[0]["toolUsageCard"]["webSearch"]["args"]["query"]
    web = [r["webSearchResults"]["results"] for r in rs if "webSearchResults" in r]
    assert len(web) == 1 and len(web[0]) == 2 and web[0][0]["url"] == CITATION_URL
    assert any("xSearchResults" in r for r in rs)
    card_idx = next(i for i, r in enumerate(rs) if "cardAttachment" in r)
    card = orjson.loads(rs[card_idx]["cardAttachment"]["jsonData"])
    assert card == {"id": CITATION_CARD_ID, "type": "render_inline_citation", "cardType": "citation_card",
                    "url": CITATION_URL}
    render_idx = next(i for i, r in enumerate(rs) if r.get("token") == CITATION_RENDER)
    assert card_idx < render_idx and rs[render_idx]["messageTag"] == "final"
    model = next(r["modelResponse"] for r in rs if "modelResponse" in r)
    assert model["message"].endswith(CITATION_RENDER)
    assert model["cardAttachmentsJson"]


async def test_split_tag(sim, session):
    _, frames, _ = await chat(session, sim, "[[sim split_tag=1]]")
    tokens = [r["token"] for r in responses(frames) if r.get("messageTag") == "final" and "token" in r]
    assert tokens == list(SPLIT_TAG_TOKENS)
    raw = "".join(tokens)
    assert raw == split_tag_raw_text()
    for element in (SPLIT_RENDER, SPLIT_ARTIFACT):
        start = raw.index(element)
        end = start + len(element)
        pos, spanned = 0, 0
        for tok in tokens:
            if pos < end and pos + len(tok) > start:
                spanned += 1
            pos += len(tok)
        assert spanned >= 3
    assert raw.replace(SPLIT_RENDER, "").replace(SPLIT_ARTIFACT, "") == split_tag_visible_text()


async def test_utf8_frames_split_inside_multibyte(sim, session):
    pieces: list[bytes] = []
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim utf8=1]]"), headers=auth_headers("tok")) as r:
        assert r.status == 200
        async for piece in r.content.iter_any():
            pieces.append(piece)
    body = b"".join(pieces)
    lines = [orjson.loads(x) for x in body.split(b"\n") if x]
    assert answer_of(lines) == UTF8_TEXT

    def broken(b: bytes) -> bool:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    assert len(pieces) > len(lines)  # frames arrive in more than one read
    assert sum(broken(p) for p in pieces) >= 3


async def test_order_late(sim, session):
    _, frames, _ = await chat(session, sim, "[[sim order=late]]")
    assert kinds(frames)[-2:] == ["softstop", "model"]
    assert "final" not in kinds(frames)


async def test_delay_and_first_byte(sim, session):
    import time

    t0 = time.perf_counter()
    async with session.post(sim.url + CHAT, json=chat_payload("[[sim first_byte_ms=250 tokens=5 delay_ms=40]]"),
                            headers=auth_headers("tok")) as r:
        t_headers = time.perf_counter() - t0
        await r.read()
    total = time.perf_counter() - t0
    assert t_headers >= 0.24
    assert total >= 0.24 + 0.04 * 8  # 10 frames, 9 gaps (allow scheduling slack)


def test_parse_directives_pure():
    d = parse_directives("no directives here")
    assert d.tokens is None and d.think is None
    d = parse_directives("x [[sim tokens=3 think=0 search=1 fault=cut_mid bogus=1 delay_ms=abc]] y")
    assert (d.tokens, d.think, d.search, d.fault, d.delay_ms) == (3, False, True, "cut_mid", 0)
    assert parse_directives("[[sim fault=nonsense]]").fault is None


def test_build_plan_is_deterministic():
    ids = {"conversation_id": "c", "user_response_id": "u", "response_id": "r"}
    a = build_plan("hi [[sim tokens=4 delay_ms=5]]", "expert", **ids)
    b = build_plan("hi [[sim tokens=4 delay_ms=5]]", "expert", **ids)
    assert a.frames == b.frames and a.delays == b.delays
    assert a.delays[0] == 0 and set(a.delays[1:]) == {0.005}


async def test_many_paced_streams_are_exact(sim, session):
    import asyncio

    sim.state.quota_enabled = False
    msgs = [f"[user]: q{i} [[sim tokens={10 + i % 7} delay_ms={2 + i % 3} think=0]]" for i in range(60)]
    results = await asyncio.gather(*(chat(session, sim, m) for m in msgs))
    for msg, (status, frames, _) in zip(msgs, results):
        assert status == 200
        assert answer_of(frames) == expected_text(msg)
        assert "finalMetadata" in frames[-1]["result"]["response"]
    assert sim.state.completed_streams == 60 and sim.state.active_streams == 0


async def test_stall_with_paced_frames(sim, session):
    sim.state.inject("stall", stall_ms=200)
    status, frames, _ = await chat(session, sim, "[[sim tokens=6 delay_ms=5]]")
    assert status == 200 and answer_of(frames) == "".join(answer_tokens(6))
