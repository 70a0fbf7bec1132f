"""Pure, deterministic frame generation for `POST /rest/app-chat/conversations/new`.

A test steers the answer with a directive block anywhere in the message text, e.g.
``[[sim tokens=200 delay_ms=10 think=0]]`` (the last block wins). `build_plan` turns
(message, mode, directives, fault) into a `ChatPlan`: the frames as dicts, the wait
before each frame and the transport-level actions (stall, cut, truncation, UTF-8 split)
that app.py carries out. Nothing here does I/O.

The mid-answer faults strike after a few answer tokens (`after_tokens`, default 3), before
any end marker (`modelResponse`, soft stop, `finalMetadata`; `response.done` over mgw):
`inband_mid` sends an error frame, `cut_mid` drops the connection, `truncated` sends half of
the next frame and ends the body, `ended_mid` ends the body cleanly (mgw: a close frame), as
a proxy ending a stalled answer does. `stall` goes silent mid-answer, then goes on.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ops.simulator.content import (
    CITATION_CARD,
    CITATION_CARD_ID,
    CITATION_RENDER,
    CITATION_URL,
    DEFAULT_TOKENS,
    SEARCH_QUERY,
    SEARCH_TOOL_CARD_ID,
    SPLIT_ARTIFACT,
    SPLIT_RENDER,
    SPLIT_TAG_TOKENS,
    THINKING_HEADER,
    UTF8_TEXT,
    WEB_RESULTS,
    X_RESULTS,
    answer_tokens,
    chunk_text,
    encode_say,
    split_tag_raw_text,
    split_tag_visible_text,
    thinking_tokens,
)
from ops.simulator.directives import (
    ALL_FAULTS,
    HTTP_FAULTS,
    NO_QUOTA_FAULTS,
    STREAM_FAULTS,
    Directives,
    expected_text,
    parse_directives,
    plan_answer,
)
from ops.simulator.errors import ANTI_BOT, INTERNAL, TOO_MANY_REQUESTS, USAGE_LIMIT_MESSAGE

__all__ = [
    "ALL_FAULTS", "HTTP_FAULTS", "NO_QUOTA_FAULTS", "STREAM_FAULTS", "CITATION_CARD", "CITATION_CARD_ID",
    "CITATION_RENDER", "CITATION_URL", "DEFAULT_TOKENS", "SEARCH_QUERY", "SPLIT_ARTIFACT", "SPLIT_RENDER",
    "SPLIT_TAG_TOKENS", "UTF8_TEXT", "WEB_RESULTS", "X_RESULTS", "ChatPlan", "Directives", "answer_tokens",
    "build_plan", "chunk_text", "encode_say", "expected_text", "parse_directives", "plan_answer",
    "split_tag_raw_text", "split_tag_visible_text", "thinking_tokens",
]

REASONING_MODES: frozenset[str] = frozenset({"auto", "expert", "heavy"})
HEAVY_ROLLOUTS: tuple[str, ...] = ("Grok", "Agent 1", "Agent 2", "Agent 3")

DEFAULT_STALL_MS = 120_000
DEFAULT_SLOW_FIRST_BYTE_MS = 5_000
#: Answer tokens sent before inband_mid / cut_mid / truncated / ended_mid strike.
FAULT_AFTER_TOKENS = 3
MID_ANSWER_FAULTS = frozenset({"inband_mid", "cut_mid", "truncated", "ended_mid"})
STALL_AFTER_TOKENS = 2


@dataclass(slots=True)
class ChatPlan:
    frames: list[dict[str, Any]]
    #: Seconds to wait before sending each frame (same length as frames).
    delays: list[float]
    #: The uniform gap between frames (delays[1:]); 0 = back to back.
    interval: float = 0.0
    first_byte_delay: float = 0.0
    #: Stall for `stall_seconds` before sending frames[stall_at].
    stall_at: int | None = None
    stall_seconds: float = 0.0
    #: After the last frame, abort the connection instead of ending the chunked body.
    cut: bool = False
    #: Send only the first half of the last frame (no newline), then end the body.
    truncate_last: bool = False
    #: The frames stop before the answer's end markers; the body still ends cleanly.
    ended_early: bool = False
    #: Write every frame in two writes split inside a multi-byte UTF-8 sequence.
    split_utf8: bool = False
    consumes_quota: bool = True
    answer: list[str] = field(default_factory=list)


def _r(resp: dict[str, Any]) -> dict[str, Any]:
    return {"result": {"response": resp}}


def _tool_xml(name: str, args: dict[str, Any]) -> str:
    return (
        f"<xai:tool_usage_card><xai:tool_name><![CDATA[{name}]]></xai:tool_name>"
        f"<xai:tool_args><![CDATA[{orjson.dumps(args).decode()}]]></xai:tool_args></xai:tool_usage_card>"
    )


def _thinking_frames(mode: str, n: int, rid: str) -> list[dict[str, Any]]:
    frames = [
        _r({"token": THINKING_HEADER, "isThinking": True, "messageTag": "header",
            "messageStepId": 0, "rolloutId": "Grok", "responseId": rid})
    ]
    heavy = mode == "heavy"
    for i, text in enumerate(thinking_tokens(n)):
        rollout = HEAVY_ROLLOUTS[i % len(HEAVY_ROLLOUTS)] if heavy else "Grok"
        frames.append(_r({"token": text, "isThinking": True, "messageTag": "summary",
                          "messageStepId": i + 1, "rolloutId": rollout, "responseId": rid}))
    if heavy:
        args = {"message": "Agent 1 reporting findings."}
        frames.append(_r({
            "token": _tool_xml("chatroom_send", args), "isThinking": True,
            "messageTag": "tool_usage_card", "messageStepId": n + 1, "rolloutId": "Agent 1",
            "toolUsageCardId": "sim-chat-0",
            "toolUsageCard": {"toolUsageCardId": "sim-chat-0", "chatroomSend": {"args": args}},
            "responseId": rid,
        }))
    return frames


def _search_frames(step: int, rid: str) -> list[dict[str, Any]]:
    args = {"query": SEARCH_QUERY}
    common = {"messageStepId": step, "rolloutId": "Grok", "toolUsageCardId": SEARCH_TOOL_CARD_ID}
    return [
        _r({"token": _tool_xml("web_search", args), "isThinking": True, "messageTag": "tool_usage_card",
            **common, "toolUsageCard": {"toolUsageCardId": SEARCH_TOOL_CARD_ID, "webSearch": {"args": args}},
            "responseId": rid}),
        _r({"token": "", "isThinking": True, "messageTag": "raw_function_result", **common,
            "webSearchResults": {"results": [dict(x) for x in WEB_RESULTS]}, "responseId": rid}),
        _r({**common, "responseId": rid}),
        _r({"xSearchResults": {"results": [dict(x) for x in X_RESULTS]}, "responseId": rid}),
        _r({"cardAttachment": {"jsonData": orjson.dumps(CITATION_CARD).decode()}, "messageTag": "final",
            "responseId": rid}),
    ]


def build_plan(
    message: str,
    mode: str,
    directives: Directives | None = None,
    fault: str | None = None,
    fault_options: dict[str, int] | None = None,
    *,
    conversation_id: str | None = None,
    user_response_id: str | None = None,
    response_id: str | None = None,
) -> ChatPlan:
    """Frames for one turn. `fault` (a STREAM_FAULTS name) wins over `directives.fault`."""
    d = directives if directives is not None else parse_directives(message)
    fault = fault or d.fault
    opts = fault_options or {}
    cid = conversation_id or str(uuid.uuid4())
    uid = user_response_id or str(uuid.uuid4())
    rid = response_id or str(uuid.uuid4())

    conv = {"result": {"conversation": {"conversationId": cid, "title": "New conversation",
                                        "starred": False, "temporary": True}}}
    user = _r({"userResponse": {"responseId": uid, "message": message, "sender": "human",
                                "parentResponseId": ""}})

    if fault == "inband_first":
        return _plan([TOO_MANY_REQUESTS], d, consumes=False)
    if fault == "inband_antibot_first":
        return _plan([ANTI_BOT], d, consumes=False)
    if fault == "usage_limit":
        return _plan([conv, user, _r({"error": {"message": USAGE_LIMIT_MESSAGE}, "responseId": rid})],
                     d, consumes=False)
    soft_stop = _r({"token": "", "isSoftStop": True, "responseId": rid})
    if fault == "empty":
        return _plan([conv, user, soft_stop], d)

    frames: list[dict[str, Any]] = [conv, user]
    think = d.think if d.think is not None else mode in REASONING_MODES
    if think:
        frames.extend(_thinking_frames(mode, d.think_tokens, rid))
    if d.search:
        steps = (d.think_tokens + (2 if mode == "heavy" else 1)) if think else 0
        frames.extend(_search_frames(steps, rid))
    answer = plan_answer(d)
    first_answer = len(frames)
    frames.extend(_r({"token": t, "isThinking": False, "messageTag": "final", "responseId": rid})
                  for t in answer)

    if fault in MID_ANSWER_FAULTS:
        # `truncated` keeps one more frame: the one it sends half-written
        after = opts.get("after_tokens", FAULT_AFTER_TOKENS) + (1 if fault == "truncated" else 0)
        del frames[first_answer + after:]
        if fault == "inband_mid":
            frames.append(INTERNAL)
        plan = _plan(frames, d)
        plan.cut = fault == "cut_mid"
        plan.truncate_last = fault == "truncated"
        plan.ended_early = fault == "ended_mid"
        plan.answer = answer
        return plan

    model_response: dict[str, Any] = {
        "responseId": rid, "message": "".join(answer), "sender": "assistant",
        "parentResponseId": uid, "generatedImageUrls": [], "fileAttachments": [],
        "cardAttachmentsJson": [orjson.dumps(CITATION_CARD).decode()] if d.search else [],
    }
    if fault == "stream_errors":
        model_response["streamErrors"] = [{"code": 13, "message": "internal"}]
    final_meta = _r({"finalMetadata": {"followUpSuggestions": [], "feedbackLabels": [],
                                       "toolsUsed": {"webSearch": d.search}}, "responseId": rid})
    if d.order == "late":
        frames += [soft_stop, _r({"modelResponse": model_response})]
    else:
        frames += [_r({"modelResponse": model_response}), soft_stop, final_meta]

    plan = _plan(frames, d)
    plan.answer = answer
    if fault == "stall":
        plan.stall_at = min(first_answer + STALL_AFTER_TOKENS, len(frames) - 1)
        plan.stall_seconds = opts.get("stall_ms", d.stall_ms if d.stall_ms is not None else DEFAULT_STALL_MS) / 1000
    elif fault == "slow_first_byte":
        ms = opts.get("first_byte_ms", d.first_byte_ms or DEFAULT_SLOW_FIRST_BYTE_MS)
        plan.first_byte_delay = ms / 1000
    return plan


def _plan(frames: list[dict[str, Any]], d: Directives, *, consumes: bool = True) -> ChatPlan:
    gap = d.delay_ms / 1000
    delays = [gap] * len(frames)
    if delays:
        delays[0] = 0.0
    return ChatPlan(
        frames=frames,
        delays=delays,
        interval=gap,
        first_byte_delay=d.first_byte_ms / 1000,
        split_utf8=d.utf8,
        consumes_quota=consumes,
    )
