"""Pure, deterministic frame generation for `POST /rest/app-chat/conversations/new`.

A test steers the answer with a directive block anywhere in the message text, e.g.
``[[sim tokens=200 delay_ms=10 think=0]]`` (the last block wins). `build_plan` turns
(message, mode, directives, fault) into a `ChatPlan`: the frames as dicts, the wait
before each frame and the transport-level actions (stall, cut, truncation, UTF-8 split)
that app.py carries out. Nothing here does I/O.
"""
from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from ops.simulator.errors import ANTI_BOT, HTTP_FAULT_REPLIES, INTERNAL, TOO_MANY_REQUESTS, USAGE_LIMIT_MESSAGE

#: Faults that change the 200 stream (HTTP-level ones live in errors.HTTP_FAULT_REPLIES).
STREAM_FAULTS: frozenset[str] = frozenset(
    {
        "inband_first",
        "inband_antibot_first",
        "inband_mid",
        "usage_limit",
        "stream_errors",
        "cut_mid",
        "truncated",
        "stall",
        "slow_first_byte",
        "empty",
    }
)
HTTP_FAULTS: frozenset[str] = frozenset(HTTP_FAULT_REPLIES)
ALL_FAULTS: frozenset[str] = HTTP_FAULTS | STREAM_FAULTS
#: Faults after which the real service would not have charged the query.
NO_QUOTA_FAULTS: frozenset[str] = HTTP_FAULTS | {"inband_first", "inband_antibot_first", "usage_limit"}

REASONING_MODES: frozenset[str] = frozenset({"auto", "expert", "heavy"})
HEAVY_ROLLOUTS: tuple[str, ...] = ("Grok", "Agent 1", "Agent 2", "Agent 3")

DEFAULT_STALL_MS = 120_000
DEFAULT_SLOW_FIRST_BYTE_MS = 5_000
#: Answer tokens sent before inband_mid / cut_mid / stall strike.
FAULT_AFTER_TOKENS = 3
STALL_AFTER_TOKENS = 2

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " grok", " simulator.")
THINKING_HEADER = "Thinking about your request"
UTF8_TEXT = "你好，世界！🌍 模拟器正在流式输出。🚀✨ 多字节测试：漢字とかな、한국어。👍🏽"

# ---- search (spec 5.6 c) ---------------------------------------------------------------
SEARCH_QUERY = "grok simulator search"
SEARCH_TOOL_CARD_ID = "sim-tc-0"
CITATION_CARD_ID = "k3x9"
CITATION_URL = "https://en.wikipedia.org/wiki/Paris"
WEB_RESULTS: tuple[dict[str, str], ...] = (
    {"url": CITATION_URL, "title": "Paris - Wikipedia", "preview": "Paris is the capital of France."},
    {"url": "https://www.britannica.com/place/Paris", "title": "Paris | Britannica", "preview": "Paris, city and capital of France."},
)
X_RESULTS: tuple[dict[str, str], ...] = (
    {"postId": "1800000000000000000", "username": "someone", "name": "Someone", "text": "Paris facts…"},
)
CITATION_CARD: dict[str, str] = {
    "id": CITATION_CARD_ID,
    "type": "render_inline_citation",
    "cardType": "citation_card",
    "url": CITATION_URL,
}
CITATION_RENDER = (
    f'<grok:render card_id="{CITATION_CARD_ID}" card_type="citation_card" type="render_inline_citation">'
    '<argument name="citation_id">0</argument></grok:render>'
)

# ---- split tags ------------------------------------------------------------------------
SPLIT_RENDER = (
    '<grok:render card_id="simsplit0" card_type="citation_card" type="render_inline_citation">'
    '<argument name="citation_id">0</argument></grok:render>'
)
SPLIT_ARTIFACT = '<xaiartifact artifact_id="simart0" title="note.txt" contentType="text/plain">artifact body</xaiartifact>'
#: Each element spans 3+ tokens; the render's card id is never attached, so a client that
#: strips unknown cards and artifacts shows `split_tag_visible_text()`.
SPLIT_TAG_TOKENS: tuple[str, ...] = (
    "Alpha ",
    "beta <grok:ren",
    'der card_id="simsplit0" card_type="citation_card" ',
    'type="render_inline_citation"><argument name="citation_id">0</arg',
    "ument></grok:render>gamma ",
    "delta <xaiart",
    'ifact artifact_id="simart0" title="note.txt" ',
    'contentType="text/plain">artifact body</xaiart',
    "ifact>epsilon.",
)

_DIRECTIVE_RE = re.compile(r"\[\[sim((?:\s+[A-Za-z_][A-Za-z0-9_]*=[^\s\]]*)*)\s*\]\]")


def answer_tokens(n: int) -> list[str]:
    """The deterministic answer of `tokens=n`: ``["w0 ", "w1 ", …]``."""
    return [f"w{i} " for i in range(n)]


def thinking_tokens(n: int) -> list[str]:
    """Reasoning summary tokens after the header frame."""
    return [f"- Thinking step {i}." for i in range(n)]


def chunk_text(text: str, size: int) -> list[str]:
    """Split `text` into tokens of `size` characters (code points)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_tag_raw_text() -> str:
    return "".join(SPLIT_TAG_TOKENS)


def split_tag_visible_text() -> str:
    """The split_tag answer with the `<grok:render>` and `<xaiartifact>` elements removed."""
    return "Alpha beta gamma delta epsilon."


def encode_say(text: str) -> str:
    """Helper for tests: the `say=` value for `text`."""
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


@dataclass(slots=True)
class Directives:
    tokens: int | None = None
    say: str | None = None
    chunk: int = 3
    think: bool | None = None
    think_tokens: int = 3
    delay_ms: int = 0
    first_byte_ms: int = 0
    search: bool = False
    split_tag: bool = False
    utf8: bool = False
    order: str = "normal"
    fault: str | None = None
    stall_ms: int | None = None


_INT_KEYS = {"tokens", "chunk", "think_tokens", "delay_ms", "first_byte_ms", "stall_ms"}
_BOOL_KEYS = {"think", "search", "split_tag", "utf8"}
_KNOWN = {f.name for f in fields(Directives)}


def parse_directives(message: str) -> Directives:
    """Directives of the last ``[[sim …]]`` block in `message`; defaults if none.

    Malformed values are ignored (the default stays) so a typo never breaks a stream.
    """
    d = Directives()
    if "[[sim" not in message:
        return d
    blocks = _DIRECTIVE_RE.findall(message)
    if not blocks:
        return d
    for pair in blocks[-1].split():
        key, _, value = pair.partition("=")
        if key not in _KNOWN:
            continue
        if key in _INT_KEYS:
            try:
                setattr(d, key, max(0, int(value)))
            except ValueError:
                pass
        elif key in _BOOL_KEYS:
            setattr(d, key, value.lower() in ("1", "true", "yes", "on"))
        elif key == "say":
            try:
                d.say = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
            except (binascii.Error, ValueError):
                pass
        elif key == "order":
            d.order = value
        elif key == "fault" and value in ALL_FAULTS:
            d.fault = value
    return d


def plan_answer(d: Directives) -> list[str]:
    """Answer tokens for the directives (precedence: say, split_tag, utf8, tokens, default)."""
    if d.say is not None:
        tokens = chunk_text(d.say, d.chunk)
    elif d.split_tag:
        tokens = list(SPLIT_TAG_TOKENS)
    elif d.utf8:
        tokens = chunk_text(UTF8_TEXT, d.chunk)
    elif d.tokens is not None:
        tokens = answer_tokens(d.tokens)
    else:
        tokens = list(DEFAULT_TOKENS)
    if d.search:
        tokens.append(CITATION_RENDER)
    return tokens


def expected_text(message: str) -> str:
    """The raw answer (`modelResponse.message`) the simulator produces for `message`."""
    return "".join(plan_answer(parse_directives(message)))


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

    if fault in ("inband_mid", "cut_mid"):
        del frames[first_answer + FAULT_AFTER_TOKENS:]
        if fault == "inband_mid":
            frames.append(INTERNAL)
        plan = _plan(frames, d)
        plan.cut = fault == "cut_mid"
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
    if fault == "truncated":
        plan.truncate_last = True
    elif fault == "stall":
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
