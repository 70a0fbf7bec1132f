"""Streaming renderer of grok.com `<grok:render>` card elements (citations, searched images).

`CitationRenderer.feed(text)` returns the text with every complete element replaced by its
rendered form, plus the citations it produced (absolute offsets into everything this renderer
has returned so far). An element may be split across any number of token frames: only text
that may still be (the start of) an element is held back; everything else is released at once.
Text without '<' takes a fast path.

* `render_inline_citation` → ` [[N]](url)`: N is the 1-based index of the URL in order of first
  citation; a citation identical to the previous one with only whitespace between is dropped.
* `render_searched_image` → `[![title](thumbnail)](link)` (or `![title](thumbnail)`).
* `render_generated_image`, `render_file`, unknown types and unknown card ids → removed.
"""
from __future__ import annotations

import re
from typing import Any

from addons.events import Citation

OPEN = "<grok:render"
CLOSE = "</grok:render>"
#: An element longer than this is not one we render; it is released as text (the tag filter
#: downstream still removes it).
MAX_ELEMENT = 16384
_ATTR = re.compile(r'([\w:-]+)\s*=\s*"([^"]*)"')


def md_escape(text: str) -> str:
    """Escape what would break a Markdown link text; newlines become spaces."""
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def attributes(open_tag: str) -> dict[str, str]:
    return dict(_ATTR.findall(open_tag))


class CitationRenderer:
    """One instance per flow (answer text only). Not thread-safe."""

    __slots__ = ("cards", "titles", "inline", "held", "emitted", "urls", "last_url")

    def __init__(self, inline: bool = True) -> None:
        self.cards: dict[str, dict[str, Any]] = {}
        self.titles: dict[str, str] = {}  # url → title, from search sources
        self.inline = inline  # False: inline citations are removed, not linked
        self.held = ""  # text that may still be (the start of) an element
        self.emitted = 0  # characters returned so far: the base of citation offsets
        self.urls: dict[str, int] = {}  # cited url → its number
        self.last_url: str | None = None  # previous citation, until visible text follows it

    def add_card(self, card: dict[str, Any]) -> None:
        card_id = card.get("id")
        if isinstance(card_id, str) and card_id:
            self.cards[card_id] = card

    def add_sources(self, sources: list[dict[str, str]]) -> None:
        for src in sources:
            url, title = src.get("url"), src.get("title")
            if url and title and url not in self.titles:
                self.titles[url] = title

    # ---- streaming ---------------------------------------------------------------------
    def feed(self, text: str) -> tuple[str, list[Citation]]:
        if not self.held and "<" not in text:
            self._plain(text)
            self.emitted += len(text)
            return text, []
        s = self.held + text
        self.held = ""
        out: list[str] = []
        cites: list[Citation] = []
        pos = self.emitted
        i, n = 0, len(s)
        while i < n:
            j = s.find("<", i)
            if j < 0:
                pos += self._emit(s[i:], out)
                break
            pos += self._emit(s[i:j], out)
            end = self._element_end(s, j)
            if end == 0:  # may still become an element: wait for more text
                self.held = s[j:]
                break
            if end < 0:  # not one of ours
                pos += self._emit("<", out)
                i = j + 1
                continue
            rendered, url = self._render(s[j:s.find(">", j) + 1])
            if rendered:
                out.append(rendered)
                if url is not None:
                    cites.append(Citation(url, self.titles.get(url, url), pos, pos + len(rendered)))
                pos += len(rendered)
            i = end
        self.emitted = pos
        return "".join(out), cites

    def flush(self) -> str:
        """End of the answer: an unfinished element is released as text (the tag filter
        removes what is left of it)."""
        held, self.held = self.held, ""
        self.emitted += len(held)
        return held

    def _element_end(self, s: str, j: int) -> int:
        """At `s[j] == "<"`: the index after a complete element, 0 if more text is needed,
        -1 if no element of ours starts here."""
        head = s[j:j + len(OPEN) + 1]
        if len(head) <= len(OPEN):
            return 0 if OPEN.startswith(head) else -1
        if not head.startswith(OPEN) or head[-1] not in " \t\r\n>/":
            return -1
        gt = s.find(">", j)
        if gt >= 0 and s[gt - 1] == "/":
            return gt + 1  # self-closing
        close = s.find(CLOSE, gt) if gt >= 0 else -1
        if close >= 0:
            return close + len(CLOSE)
        return -1 if len(s) - j > MAX_ELEMENT else 0

    def _emit(self, text: str, out: list[str]) -> int:
        if text:
            out.append(text)
            self._plain(text)
        return len(text)

    def _plain(self, text: str) -> None:
        if self.last_url is not None and text and not text.isspace():
            self.last_url = None

    def _render(self, open_tag: str) -> tuple[str, str | None]:
        """(replacement, cited url or None) for one element, given its opening tag."""
        attrs = attributes(open_tag)
        card = self.cards.get(attrs.get("card_id", ""))
        if card is None:
            return "", None
        kind = attrs.get("type") or card.get("type")
        if kind == "render_inline_citation":
            return self._citation(card)
        if kind == "render_searched_image":
            return _searched_image(card), None
        return "", None

    def _citation(self, card: dict[str, Any]) -> tuple[str, str | None]:
        url = card.get("url")
        if not isinstance(url, str) or not url or not self.inline:
            return "", None
        number = self.urls.setdefault(url, len(self.urls) + 1)
        if url == self.last_url:
            return "", None
        self.last_url = url
        return f" [[{number}]]({url})", url


def _searched_image(card: dict[str, Any]) -> str:
    image = card.get("image")
    if not isinstance(image, dict):
        return ""
    thumb = image.get("thumbnail") or image.get("original")
    if not isinstance(thumb, str) or not thumb:
        return ""
    title = md_escape(str(image.get("title") or "image"))
    link = image.get("link")
    if isinstance(link, str) and link:
        return f"[![{title}]({thumb})]({link})"
    return f"![{title}]({thumb})"
