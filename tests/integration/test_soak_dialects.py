"""The soak's judge (`soak_dialects`) on hand-made answers: it passes the exact text and clean
errors, and catches what the soak is there to find, so a soak that passes means something."""
from __future__ import annotations

import json

import pytest

from tests.integration.soak_dialects import DIALECTS, Malformed

CHAT, RESPONSES, MESSAGES = DIALECTS
EXPECTED = "soak 1 alpha beta"


def sse(*events: tuple[str | None, object]) -> bytes:
    """An SSE body: (event name or None, data object or raw string) pairs, a ping first."""
    out = [": ping\n\n"]
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        body = data if isinstance(data, str) else json.dumps(data)
        out.append(f"{head}data: {body}\n\n")
    return "".join(out).encode()


def chunk(text: str | None = None, finish: str | None = None) -> tuple[None, dict]:
    delta = {"content": text} if text is not None else {}
    return None, {"object": "chat.completion.chunk",
                  "choices": [{"delta": delta, "finish_reason": finish}]}


ERROR = {"message": "grok.com failed to answer (upstream 502, server_error)",
         "type": "upstream_error", "code": "upstream_error", "status": 502}


def test_a_chat_stream_passes_with_the_exact_text_or_a_clean_error_after_a_prefix():
    whole = sse(chunk("soak 1 "), chunk("alpha beta"), chunk(finish="stop"), (None, "[DONE]"))
    assert CHAT.judge(200, whole, True, EXPECTED).outcome == "answer"
    cut = sse(chunk("soak 1 "), ("error", {"error": ERROR}), (None, "[DONE]"))
    verdict = CHAT.judge(200, cut, True, EXPECTED)
    assert (verdict.outcome, verdict.code, verdict.text) == ("error", "upstream_error", "soak 1 ")


@pytest.mark.parametrize("body", [
    # a failover that repeated the first try's text
    sse(chunk("soak 1 "), chunk("soak 1 alpha beta"), chunk(finish="stop"), (None, "[DONE]")),
    # text missing
    sse(chunk("soak 1 alpha"), chunk(finish="stop"), (None, "[DONE]")),
    # no [DONE]
    sse(chunk("soak 1 alpha beta"), chunk(finish="stop")),
    # a stream that goes on after its error
    sse(chunk("soak 1 "), ("error", {"error": ERROR}), chunk("alpha"), (None, "[DONE]")),
    # half an answer that says it finished
    sse(chunk("soak 1 "), chunk(finish="stop"), ("error", {"error": ERROR}), (None, "[DONE]")),
    # text before the error that is not the answer's
    sse(chunk("other "), ("error", {"error": ERROR}), (None, "[DONE]")),
    # a page in the error
    sse(("error", {"error": {**ERROR, "message": "<html>Just a moment...</html>"}}),
        (None, "[DONE]")),
    # the body stops in the middle of an event
    sse(chunk("soak 1 alpha beta"))[:-1],
    b"data: {\"object\": \"chat.completion.chunk\"\n\ndata: [DONE]\n\n",  # cut JSON
    b"garbage\n\n",
])
def test_a_chat_stream_that_is_neither_is_caught(body):
    with pytest.raises(Malformed):
        CHAT.judge(200, body, True, EXPECTED)


def responses_events(*names_and_payloads: tuple[str, dict]) -> bytes:
    return sse(*[(name, {"type": name, **payload, "sequence_number": n})
                 for n, (name, payload) in enumerate(names_and_payloads)], (None, "[DONE]"))


def test_a_responses_stream_ends_completed_with_the_text_or_with_error_then_failed():
    message = {"type": "message", "content": [{"type": "output_text", "text": EXPECTED}]}
    head = [("response.created", {}), ("response.in_progress", {})]
    done = responses_events(*head, ("response.output_text.delta", {"delta": EXPECTED}),
                            ("response.completed", {"response": {"output": [message]}}))
    assert RESPONSES.judge(200, done, True, EXPECTED).outcome == "answer"
    failed = responses_events(*head, ("error", {"code": "upstream_truncated"}),
                              ("response.failed", {"response": {
                                  "status": "failed", "error": {"message": "cut"}}}))
    assert RESPONSES.judge(200, failed, True, EXPECTED).code == "upstream_truncated"
    with pytest.raises(Malformed):  # failed without saying why first
        RESPONSES.judge(200, responses_events(*head, ("response.failed", {"response": {
            "status": "failed", "error": {"message": "cut"}}})), True, EXPECTED)
    with pytest.raises(Malformed):  # the completed object disagrees with the deltas
        RESPONSES.judge(200, responses_events(
            *head, ("response.output_text.delta", {"delta": EXPECTED}),
            ("response.completed", {"response": {"output": []}})), True, EXPECTED)


def test_an_anthropic_stream_ends_with_message_stop_or_with_its_error_event():
    start = ("message_start", {"type": "message_start"})
    text = ("content_block_delta", {"type": "content_block_delta",
                                    "delta": {"type": "text_delta", "text": EXPECTED}})
    stop = [("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
            ("message_stop", {"type": "message_stop"})]
    error = ("error", {"type": "error", "error": ERROR})
    assert MESSAGES.judge(200, sse(start, text, *stop), True, EXPECTED).outcome == "answer"
    assert MESSAGES.judge(200, sse(start, error), True, EXPECTED).outcome == "error"
    with pytest.raises(Malformed):  # an error, then a stop as if all went well
        MESSAGES.judge(200, sse(start, error, *stop), True, EXPECTED)
    with pytest.raises(Malformed):  # no end at all
        MESSAGES.judge(200, sse(start, text), True, EXPECTED)


def test_an_error_before_the_stream_is_the_dialects_envelope_with_a_sane_status():
    openai = json.dumps({"error": ERROR}).encode()
    assert CHAT.judge(502, openai, True, EXPECTED).code == "upstream_error"
    with pytest.raises(Malformed):  # Anthropic's SDKs need type=error at the top
        MESSAGES.judge(502, openai, False, EXPECTED)
    with pytest.raises(Malformed):  # a crash is no upstream failure
        CHAT.judge(500, json.dumps({"error": {**ERROR, "status": 500}}).encode(), False, EXPECTED)
    refusal = json.dumps({"error": {**ERROR, "status": 503, "code": "upstream_unavailable"}})
    assert CHAT.judge(503, refusal.encode(), False, EXPECTED, "2").outcome == "error"
    with pytest.raises(Malformed):  # the breaker's refusal says when to come back
        CHAT.judge(503, refusal.encode(), False, EXPECTED, None)
