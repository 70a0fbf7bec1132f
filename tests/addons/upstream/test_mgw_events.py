"""The mgw event parser and client frames, without a network (docs/upstream.md,
"The mgw WebSocket")."""
from __future__ import annotations

import orjson
import pytest

from addons.events import (
    CardAttachment,
    ConversationStarted,
    End,
    FinalMessage,
    ReasoningDelta,
    ResponseMeta,
    SearchSources,
    TextDelta,
    UpstreamFailure,
)
from addons.upstream.mgw import handshake_headers, sso_of, user_id_of, ws_base_url
from addons.upstream.mgw_events import MgwEventParser, citation_element
from addons.upstream.mgw_frames import item_create, ping, response_create, session_create

#: The server side of a typical turn: reasoning, web and X searches, a cited answer.
EXAMPLE = [
    {"session_id": "conv_1", "event": {"type": "session.created", "client_event_id": "evt_init_1"}},
    {"session_id": "conv_1", "event": {"type": "conversation.attached", "conversation": {"id": "conv_1"}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"text": {"text": "Checking sources", "channel": "CHANNEL_ANALYSIS"}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"tool_usage_card": {"tool_usage_card_id": "tool-1", "web_search": {"args": {"query": "grok 4.6 release"}}}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"tool_result": {"tool_call_id": "tool-1", "web_search": {"webpages": [{"url": "https://example.com/news", "title": "Grok 4.6", "snippet": "…"}]}}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"tool_usage_card": {"tool_usage_card_id": "tool-2", "x_search": {"args": {"query": "from:xai"}}}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"tool_result": {"tool_call_id": "tool-2", "x_post": {"posts": [{"userhandle": "xai", "name": "xAI", "text": "Coming soon", "post_id": "2082707547203518569"}]}}}}},
    {"session_id": "conv_1", "event": {"type": "response.search.result", "result": {"url": "https://example.com/news", "title": "Grok 4.6"}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"text": {"text": "It ships next week", "channel": "CHANNEL_ASSISTANT_RESPONSE"}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"render_citation": {"id": "c1", "kind": "CITATION_KIND_WEB_PAGE", "url": "https://example.com/news", "citation_id": 0}}}},
    {"session_id": "conv_1", "event": {"type": "response.chunk", "chunk": {"text": {"text": ".", "channel": "CHANNEL_ASSISTANT_RESPONSE"}}}},
    {"session_id": "conv_1", "event": {"type": "response.done", "response": {"id": "parent_1", "status": "completed"}}},
]


def feed_all(parser: MgwEventParser, frames: list[dict]) -> list:
    out = []
    for frame in frames:
        out += parser.feed(orjson.dumps(frame))
    return out


def ev(kind: str, **fields) -> dict:
    return {"session_id": "s", "event": {"type": kind, **fields}}


def test_example_stream_gives_the_rest_events():
    p = MgwEventParser("evt_init_1")
    events = feed_all(p, EXAMPLE[:2])
    assert p.ready and p.session_id == "conv_1" and events == [ConversationStarted("conv_1")]
    events = feed_all(p, EXAMPLE[2:])
    assert [type(e) for e in events] == [
        ReasoningDelta, ReasoningDelta, SearchSources, ReasoningDelta, SearchSources,
        TextDelta, CardAttachment, TextDelta, TextDelta, ResponseMeta, End]
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == "Checking sources\n🔍 web_search: grok 4.6 release\n🔍 x_search: from:xai\n"
    sources = [s for e in events if isinstance(e, SearchSources) for s in e.sources]
    assert sources == [
        {"url": "https://example.com/news", "title": "Grok 4.6", "type": "web"},
        {"url": "https://x.com/xai/status/2082707547203518569", "title": "𝕏/@xai: Coming soon", "type": "x"}]
    card = next(e for e in events if isinstance(e, CardAttachment)).card
    assert card == {"id": "c1", "type": "render_inline_citation", "cardType": "citation_card",
                    "url": "https://example.com/news"}
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "It ships next week" + citation_element("c1", 0) + "."
    assert ResponseMeta(response_id="parent_1") in events
    assert p.ended and not p.failed
    assert p.feed(orjson.dumps(EXAMPLE[8])) == []  # nothing after the end


@pytest.mark.parametrize("channel,kind", [
    ("CHANNEL_ANALYSIS", ReasoningDelta), ("CHANNEL_REASONING_SUMMARY", ReasoningDelta),
    ("CHANNEL_ASSISTANT_RESPONSE", TextDelta), ("", TextDelta), (None, TextDelta),
])
def test_channels(channel, kind):
    text = {"text": "x"} if channel is None else {"text": "x", "channel": channel}
    (event,) = MgwEventParser().feed(orjson.dumps(ev("response.chunk", chunk={"text": text})))
    assert type(event) is kind


def test_other_channels_and_unknown_events_are_ignored():
    p = MgwEventParser()
    assert p.feed(orjson.dumps(ev("response.chunk", chunk={"text": {"text": "x", "channel": "CHANNEL_FOLLOW_UP"}}))) == []
    assert p.feed(orjson.dumps(ev("pong"))) == []
    assert p.feed(b'{"no_event": 1}') == [] and p.feed(b"[1]") == []


def test_reasoning_after_answer_text_is_dropped():
    p = MgwEventParser()
    p.feed(orjson.dumps(ev("response.chunk", chunk={"text": {"text": "answer", "channel": ""}})))
    assert p.feed(orjson.dumps(ev("response.chunk", chunk={"text": {"text": "late", "channel": "CHANNEL_ANALYSIS"}}))) == []


def test_output_text_delta_and_done():
    p = MgwEventParser()
    assert p.feed(orjson.dumps(ev("response.output_text.delta", delta="Hi"))) == [TextDelta("Hi")]
    assert p.feed(orjson.dumps(ev("response.output_text.done", text="Hi there"))) == [FinalMessage("Hi there")]


def test_generated_image_card_from_grok_output():
    card = {"id": "x1", "type": "render_generated_image", "image_chunk": {"progress": 100}}
    out = MgwEventParser().feed(orjson.dumps(ev("response.grok.output", output={
        "card_attachment": {"jsonData": orjson.dumps(card).decode()}})))
    assert out == [CardAttachment(card)]


@pytest.mark.parametrize("frame,status", [
    (ev("error", error={"code": "anti_bot", "message": "anti-bot rejected"}), 502),
    (ev("error", error={"code": 8, "message": "Too many requests"}), 429),
    (ev("error", error={"message": "You've reached your usage limit. Please try again later."}), 429),
    (ev("response.grok.output", output={"stream_error": {"code": 13, "message": "internal"}}), 502),
    (ev("response.done", response={"id": "r", "status": "failed"}), 502),
    (ev("session.ended"), 502),
])
def test_failures_use_the_rest_status_mapping(frame, status):
    p = MgwEventParser()
    out = p.feed(orjson.dumps(frame))
    failure = out[-1]
    assert isinstance(failure, UpstreamFailure) and failure.status == status
    assert failure.body and p.failed and p.done
    assert p.feed(orjson.dumps(ev("response.done", response={"status": "completed"}))) == []


def test_invalid_json_is_a_failure():
    (failure,) = MgwEventParser().feed(b'{"event": {"type": "response.chu')
    assert isinstance(failure, UpstreamFailure) and failure.status == 502


def test_session_created_for_another_event_id_is_ignored():
    p = MgwEventParser("evt_init_mine")
    p.feed(orjson.dumps(ev("session.created", client_event_id="evt_init_other")))
    assert not p.created
    p.feed(orjson.dumps(ev("session.created")))  # no client_event_id: accepted
    assert p.created and not p.ready


def test_duplicate_sources_are_reported_once():
    p = MgwEventParser()
    page = {"url": "https://a.example", "title": "A"}
    first = p.feed(orjson.dumps(ev("response.search.result", result=page)))
    again = p.feed(orjson.dumps(ev("response.chunk", chunk={"tool_result": {"web_search": {"webpages": [page]}}})))
    assert first == [SearchSources([{"url": "https://a.example", "title": "A", "type": "web"}])]
    assert again == []


# ---- client frames ---------------------------------------------------------------------

PAYLOAD = {"message": "[user]: hi", "modeId": "expert", "temporary": True, "disableMemory": True,
           "fileAttachments": [], "imageGenerationCount": 2}


def test_session_create_fresh():
    frame = session_create(PAYLOAD, "evt_init_1")
    assert "session_id" not in frame
    event = frame["event"]
    assert event["type"] == "session.create" and event["event_id"] == "evt_init_1"
    assert event["session"]["model"] == "expert"
    x = event["session"]["x_grok"]
    assert x["protocol_capabilities"] == ["conversation_attached", "custom_methods_v1"]
    assert (x["use_chunk"], x["disable_artifact"], x["keep_context"]) == (True, True, False)
    assert (x["is_temporary"], x["disable_memory"], x["image_generation_count"]) == (True, True, 2)
    assert "load_existing" not in x


def test_session_create_continuation():
    frame = session_create({**PAYLOAD, "conversationId": "conv_9"}, "evt_init_2")
    x = frame["event"]["session"]["x_grok"]
    assert frame["session_id"] == "conv_9"
    assert (x["conversation_id"], x["load_existing"], x["needs_history"]) == ("conv_9", True, False)
    assert "is_temporary" not in x and "keep_context" not in x


def test_item_create_with_files_and_parent():
    frame = item_create("conv_1", {**PAYLOAD, "fileAttachments": ["f1", "f2"],
                                   "parentResponseId": "r0"}, "evt_msg_1")
    event = frame["event"]
    assert frame["session_id"] == "conv_1" and event["type"] == "conversation.item.create"
    chunks = event["item"]["x_grok"]["input_chunks"]
    assert chunks == [{"mention": {"target": {"file_mention": {"file_id": "f1"}}}},
                      {"mention": {"target": {"file_mention": {"file_id": "f2"}}}},
                      {"text": {"text": "[user]: hi"}}]
    assert event["item"]["file_attachment_ids"] == event["file_attachment_ids"] == ["f1", "f2"]
    assert event["parent_response_id"] == "r0"
    plain = item_create("conv_1", PAYLOAD, "evt_msg_2")["event"]
    assert "file_attachment_ids" not in plain and "file_attachment_ids" not in plain["item"]
    assert "parent_response_id" not in plain


def test_response_create_and_ping():
    assert response_create("c", "evt_resp_1") == {"session_id": "c", "event": {"type": "response.create", "event_id": "evt_resp_1"}}
    hb = ping()["event"]
    assert hb["type"] == "ping" and hb["event_id"].startswith("evt_hb_")


# ---- transport helpers -----------------------------------------------------------------

@pytest.mark.parametrize("ws_url,base,expected", [
    ("wss://grok.com", "https://grok.com", "wss://grok.com"),
    ("wss://grok.com", "http://127.0.0.1:9000", "ws://127.0.0.1:9000"),
    ("", "https://mirror.example/", "wss://mirror.example"),
    ("ws://127.0.0.1:1234/", "http://127.0.0.1:9000", "ws://127.0.0.1:1234"),
])
def test_ws_base_url(ws_url, base, expected):
    assert ws_base_url(ws_url, base) == expected


def test_identity_and_handshake_headers():
    assert user_id_of({"status": "authenticated", "session": {"userId": "u-1"}}) == "u-1"
    assert user_id_of({"user": {"id": "u-2"}}) == "u-2" and user_id_of({"sub": "u-3"}) == "u-3"
    assert user_id_of({"status": "authenticated"}) == "" and user_id_of([]) == ""
    assert sso_of("sso=abc; sso-rw=abc; cf_clearance=x") == "abc" and sso_of("") == ""
    rest = {"Cookie": "sso=t; sso-rw=t; cf_clearance=c", "Origin": "https://grok.com",
            "User-Agent": "UA", "Accept-Language": "en", "x-statsig-id": "s", "Baggage": "b",
            "Content-Type": "application/json"}
    assert handshake_headers(rest, "u-1") == {
        "Origin": "https://grok.com", "User-Agent": "UA",
        "Cookie": "sso=t; sso-rw=t; cf_clearance=c; x-userid=u-1", "Accept-Language": "en",
        "Cache-Control": "no-cache", "Pragma": "no-cache"}
