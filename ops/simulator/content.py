"""Deterministic answer content of the simulator (what tests assert on).

Pure data and pure functions; chat.py builds frames from these.
"""
from __future__ import annotations

import base64

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " grok", " simulator.")
THINKING_HEADER = "Thinking about your request"
UTF8_TEXT = "你好，世界！🌍 模拟器正在流式输出。🚀✨ 多字节测试：漢字とかな、한국어。👍🏽"

# ---- search: tool card, web results, an inline citation ---------------------------------
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
