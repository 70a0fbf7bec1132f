from __future__ import annotations

import json

import pytest

from addons.events import (
    UPSTREAM_TRUNCATED,
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
from addons.upstream.frames import FrameParser
from tests.addons.upstream import streams


def run(data: bytes, chunk: int | None = None) -> list:
    parser = FrameParser()
    out: list = []
    if chunk is None:
        out.extend(parser.feed(data))
    else:
        for i in range(0, len(data), chunk):
            out.extend(parser.feed(data[i:i + chunk]))
    out.extend(parser.close())
    return out


def text(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def frame(response: dict) -> bytes:
    return json.dumps({"result": {"response": response}}, ensure_ascii=False).encode() + b"\n"


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7, 64, 1000])
def test_plain_stream_any_chunking(chunk: int | None) -> None:
    events = run(streams.PLAIN, chunk)
    assert isinstance(events[0], ConversationStarted)
    assert events[0].conversation_id == "9f3c2a10-0d4e-4b8e-9c61-2f0a5b7d1e44"
    assert text(events) == "2 + 2 equals **4**."
    assert [e for e in events if isinstance(e, End)] == [End()]  # soft stop + finalMetadata → once
    finals = [e for e in events if isinstance(e, FinalMessage)]
    assert finals == [FinalMessage("2 + 2 equals **4**.", [])]
    metas = [e for e in events if isinstance(e, ResponseMeta)]
    assert ResponseMeta(parent_response_id="1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f") in metas
    assert ResponseMeta(
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    ) in metas


@pytest.mark.parametrize("chunk", [1, 2, 5, 13])
def test_thinking_stream_multibyte_split(chunk: int) -> None:
    events = run(streams.THINKING, chunk)
    assert text(events) == "17 × 23 = **391**."
    assert reasoning(events) == (
        "Thinking about your request\n"
        "The user wants 17 × 23.\n"
        "17 × 20 = 340, 17 × 3 = 51, total 391.\n"
    )
    assert "[Grok]" not in reasoning(events)  # a single rollout gets no marker
    assert sum(isinstance(e, End) for e in events) == 1


def test_multibyte_character_split_inside_token() -> None:
    data = frame({"token": "héllo ✓ 👍", "isThinking": False, "messageTag": "final"})
    cut = data.index("👍".encode()) + 2  # split inside the 4-byte emoji
    parser = FrameParser()
    assert parser.feed(data[:cut]) == []
    assert parser.feed(data[cut:]) == [TextDelta("héllo ✓ 👍")]


def test_search_stream_sources_cards_and_tool_line() -> None:
    events = run(streams.SEARCH, 9)
    assert text(events) == (
        "The capital of France is Paris."
        '<grok:render card_id="k3x9" card_type="citation_card" type="render_inline_citation">'
        '<argument name="citation_id">0</argument></grok:render>'
    )  # tags are left for the tag-filter addon
    assert reasoning(events) == "Searching the web\n🔍 web_search: capital of France\n"
    sources = [s for e in events if isinstance(e, SearchSources) for s in e.sources]
    assert sources == [
        {"url": "https://en.wikipedia.org/wiki/Paris", "title": "Paris - Wikipedia", "type": "web"},
        {"url": "https://www.britannica.com/place/Paris", "title": "Paris | Britannica", "type": "web"},
        {"url": "https://x.com/someone/status/1800000000000000000",
         "title": "𝕏/@someone: Paris facts…", "type": "x"},
    ]
    cards = [e.card for e in events if isinstance(e, CardAttachment)]
    assert cards == [{"id": "k3x9", "type": "render_inline_citation", "cardType": "citation_card",
                      "url": "https://en.wikipedia.org/wiki/Paris"}]
    assert isinstance(events[-1], End)


def test_sources_deduplicated_across_stream() -> None:
    web = {"webSearchResults": {"results": [{"url": "https://a", "title": "A"},
                                            {"url": "https://b", "title": "B"}]}}
    again = {"webSearchResults": {"results": [{"url": "https://b", "title": "B2"},
                                              {"url": "https://c"}]}}
    x = {"xSearchResults": {"results": [{"postId": "1", "username": "u", "text": ""},
                                        {"postId": "1", "username": "u"}]}}
    events = run(frame(web) + frame(again) + frame(again) + frame(x))
    batches = [[s["url"] for s in e.sources] for e in events if isinstance(e, SearchSources)]
    assert batches == [["https://a", "https://b"], ["https://c"], ["https://x.com/u/status/1"]]
    titles = [s["title"] for e in events if isinstance(e, SearchSources) for s in e.sources]
    assert titles[2:] == ["https://c", "𝕏/@u"]


def test_image_stream_cards_and_final_message() -> None:
    events = run(streams.IMAGES, 50)
    cards = [e.card for e in events if isinstance(e, CardAttachment)]
    assert cards[0]["image_chunk"] is None
    assert cards[1]["image_chunk"]["progress"] == 100
    final = [e for e in events if isinstance(e, FinalMessage)][0]
    assert final.generated_image_urls == ["users/u/generated/6f0e/image.jpg"]


def test_rollout_markers_only_for_multi_agent_and_dedup() -> None:
    def think(tok: str, rollout: str, step: int) -> bytes:
        return frame({"token": tok, "isThinking": True, "messageTag": "summary",
                      "messageStepId": step, "rolloutId": rollout})

    data = (think("- plan", "Grok", 0) + think("- plan", "Grok", 0)  # duplicate
            + think("- look up", "Agent 1", 0) + think("- look up", "Agent 1", 0)
            + frame({"token": "", "isThinking": True, "messageTag": "tool_usage_card",
                     "rolloutId": "Agent 1",
                     "toolUsageCard": {"toolUsageCardId": "t", "browsePage": {"args": {"url": "https://u"}}}})
            + think("- merge", "Grok", 1) + think("- look up", "Grok", 2))
    assert reasoning(run(data)) == (
        "plan\n"
        "\n[Agent 1]\n"
        "look up\n"
        "🌐 browse_page: https://u\n"
        "\n[Grok]\n"
        "merge\n"
        "look up\n"  # same text but another rollout: not a duplicate
    )


def test_fragmented_analysis_reasoning_gets_newline_between_steps() -> None:
    def think(tok: str, step: int) -> bytes:
        return frame({"token": tok, "isThinking": True, "messageTag": "analysis", "messageStepId": step})

    data = think("- Let me ", 0) + think("think.", 0) + think("Next ", 1) + think("step", 1)
    assert reasoning(run(data)) == "Let me think.\nNext step"


def test_reasoning_and_tool_cards_after_answer_dropped() -> None:
    data = (frame({"token": "Answer", "isThinking": False, "messageTag": "final"})
            + frame({"token": "late thought", "isThinking": True, "messageTag": "summary"})
            + frame({"messageTag": "tool_usage_card", "toolUsageCard": {"webSearch": {"args": {"query": "q"}}}}))
    events = run(data)
    assert text(events) == "Answer"
    assert reasoning(events) == ""


def test_tokens_with_other_tags_or_no_tag_dropped() -> None:
    data = (frame({"token": "x", "isThinking": False, "messageTag": "header"})
            + frame({"token": "I generated a video", "isSoftStop": True}))
    events = run(data)
    assert text(events) == ""
    assert events == [End()]


def test_final_token_with_soft_stop_still_ends() -> None:
    events = run(frame({"token": "bye", "messageTag": "final", "isSoftStop": True}))
    assert events == [TextDelta("bye"), End()]


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b'{"error":{"code":8,"message":"Too many requests","details":[]}}', 429),
        (b'{"error":{"code":3,"message":"Rate limit hit"}}', 429),
        (b'{"error":{"message":"Request rejected by anti-bot rules.","code":7,"details":[]}}', 502),
        (b'{"result":{"response":{"error":{"message":"You\'ve reached your usage limit. Please try again later."}}}}', 429),
        (b'{"result":{"response":{"modelResponse":{"streamErrors":[{"code":13,"message":"internal"}]}}}}', 502),
        (b'{"result":{"response":{"modelResponse":{"streamErrors":["boom"]}}}}', 502),
    ],
)
def test_in_band_errors(line: bytes, status: int) -> None:
    data = frame({"token": "partial", "messageTag": "final"}) + line + b"\n" + frame(
        {"token": "after", "messageTag": "final"})
    events = run(data, 7)
    assert text(events) == "partial"
    failure = events[-1]
    assert isinstance(failure, UpstreamFailure)
    assert failure.status == status
    assert failure.body == line.decode()[:400]


def test_failure_body_capped_at_400() -> None:
    line = json.dumps({"error": {"code": 7, "message": "x" * 1000}}).encode() + b"\n"
    (failure,) = run(line)
    assert isinstance(failure, UpstreamFailure) and len(failure.body) == 400


def test_sse_prefixes_blank_lines_and_done() -> None:
    data = (b"event: message\n\n: comment\nnot json\n"
            b'data: {"result":{"response":{"token":"a","messageTag":"final"}}}\r\n'
            b'   {"result":{"response":{"token":"b","messageTag":"final"}}}  \n'
            b"data: [DONE]\n")
    assert run(data, 4) == [TextDelta("a"), TextDelta("b"), End()]


def test_unterminated_last_line_parsed_at_close() -> None:
    parser = FrameParser()
    assert parser.feed(frame({"token": "a", "messageTag": "final"})
                       + b'{"result":{"response":{"token":"b","isSoftStop":true}}}') \
        == [TextDelta("a")]
    assert parser.close() == [End()]


def test_truncated_object_at_eof_is_an_error() -> None:
    events = run(frame({"token": "a", "messageTag": "final"}) + b'{"result":{"response":{"tok')
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], UpstreamFailure) and events[1].status == 502
    assert events[1].code == UPSTREAM_TRUNCATED


# ---- an answer is whole only with an end marker -----------------------------------------

def plain_without(*dropped: str) -> bytes:
    """streams.PLAIN without the lines carrying these keys."""
    return b"".join(line + b"\n" for line in streams.PLAIN.splitlines()
                    if not any(key.encode() in line for key in dropped))


@pytest.mark.parametrize("chunk", [None, 5])
def test_a_body_that_ends_before_any_end_marker_is_a_truncation(chunk: int | None) -> None:
    events = run(plain_without("modelResponse", "isSoftStop", "finalMetadata"), chunk)
    assert text(events) == "2 + 2 equals **4**."  # every token arrived, still not whole
    assert not any(isinstance(e, End) for e in events)
    failure = events[-1]
    assert isinstance(failure, UpstreamFailure)
    assert (failure.status, failure.code) == (502, UPSTREAM_TRUNCATED)
    assert "end marker" in failure.message


def test_an_empty_body_is_a_truncation() -> None:
    (failure,) = run(b"")
    assert isinstance(failure, UpstreamFailure) and failure.code == UPSTREAM_TRUNCATED


@pytest.mark.parametrize("kept", ["modelResponse", "isSoftStop", "finalMetadata"])
def test_any_one_end_marker_makes_the_answer_whole(kept: str) -> None:
    # real answers do not all carry every marker (an image edit ends with modelResponse only)
    markers = {"modelResponse", "isSoftStop", "finalMetadata"} - {kept}
    events = run(plain_without(*markers))
    assert text(events) == "2 + 2 equals **4**."
    assert [e for e in events if isinstance(e, (End, UpstreamFailure))] == [End()]


def test_model_response_is_whole_but_the_stream_goes_on_to_the_soft_stop() -> None:
    parser = FrameParser()
    events = parser.feed(frame({"token": "a", "messageTag": "final"})
                         + frame({"modelResponse": {"message": "a"}}))
    assert parser.complete and not parser.ended  # later frames may still add sources
    assert not any(isinstance(e, End) for e in events)
    assert parser.feed(frame({"webSearchResults": {"results": [{"url": "https://s.example"}]}}))
    assert parser.close() == [End()]


def test_model_response_with_stream_errors_is_not_whole() -> None:
    parser = FrameParser()
    parser.feed(frame({"modelResponse": {"streamErrors": ["boom"], "message": "a"}}))
    assert parser.failed and not parser.complete
    assert parser.close() == []  # the failure was already reported


def test_a_cut_line_after_the_assembled_answer_is_no_truncation() -> None:
    events = run(frame({"token": "a", "messageTag": "final"})
                 + frame({"modelResponse": {"message": "a"}}) + b'{"result":{"resp')
    assert [e for e in events if isinstance(e, (End, UpstreamFailure))] == [End()]


def test_response_id_reported_once() -> None:
    data = b"".join(frame({"token": t, "messageTag": "final", "responseId": "r9"}) for t in "abc")
    events = run(data)
    assert events[0] == ResponseMeta(response_id="r9")
    assert sum(isinstance(e, ResponseMeta) for e in events) == 1
    assert text(events) == "abc"


def test_many_frames_across_reads_join_per_read() -> None:
    """50k token frames cut at arbitrary 16 KiB read boundaries: every token arrives once, in
    order, and the tokens of one read leave as a single TextDelta."""
    line = frame({"token": "tok ", "isThinking": False, "messageTag": "final", "responseId": "r"})
    data = line * 50_000
    parser = FrameParser()
    batches = [parser.feed(data[i:i + 16384]) for i in range(0, len(data), 16384)]
    events = [e for batch in batches for e in batch]
    assert text(events) == "tok " * 50_000
    assert all(sum(isinstance(e, TextDelta) for e in batch) <= 1 for batch in batches)