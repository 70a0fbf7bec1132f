"""Removes grok.com's inline markup (`features.filter_tags`) from answer and reasoning text.

An element may be split across any number of token frames, so the filter is a small
streaming state machine: it holds back only text that could still be the start of a
filtered tag, and releases everything else at once. Text without '<' takes a fast path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from addons.events import Event, ReasoningDelta, TextDelta
from addons.flow import Flow
from state.options import Loader

#: An opening tag longer than this is not one of ours; release it as text.
MAX_OPEN_TAG = 4096


@dataclass(slots=True)
class _State:
    held: str = ""  # text that may still become a filtered tag
    inside: str | None = None  # closing tag we are skipping towards


def _partial_suffix(text: str, needle: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `needle`."""
    for n in range(min(len(needle) - 1, len(text)), 0, -1):
        if needle.startswith(text[-n:]):
            return n
    return 0


class TagStripper:
    """The pure streaming function, one instance per text channel of a flow."""

    def __init__(self, tags: list[str]) -> None:
        self.openers = [("<" + t, "</" + t + ">") for t in tags]
        self.state = _State()

    def feed(self, text: str) -> str:
        st = self.state
        if not st.held and st.inside is None and "<" not in text:
            return text
        s = st.held + text
        st.held = ""
        out: list[str] = []
        i = 0
        n = len(s)
        while i < n:
            if st.inside is not None:
                j = s.find(st.inside, i)
                if j < 0:
                    keep = _partial_suffix(s[i:], st.inside)
                    st.held = s[n - keep:] if keep else ""
                    return "".join(out)
                i = j + len(st.inside)
                st.inside = None
                continue
            j = s.find("<", i)
            if j < 0:
                out.append(s[i:])
                break
            out.append(s[i:j])
            rest = s[j:]
            verdict = self._match(rest)
            if verdict is None:  # cannot be ours
                out.append("<")
                i = j + 1
                continue
            if verdict == "":  # might be ours, need more text
                st.held = rest
                return "".join(out)
            close = verdict
            end = rest.find(">")
            if end < 0:
                if len(rest) > MAX_OPEN_TAG:
                    out.append("<")
                    i = j + 1
                    continue
                st.held = rest
                return "".join(out)
            i = j + end + 1
            if rest[end - 1] != "/":
                st.inside = close
        return "".join(out)

    def _match(self, rest: str) -> str | None:
        """Closing tag if `rest` opens a filtered element, "" if it may, None if it cannot."""
        maybe = False
        for opener, close in self.openers:
            if rest.startswith(opener):
                nxt = rest[len(opener):len(opener) + 1]
                if nxt == "":
                    maybe = True
                elif nxt in " \t\r\n>/" or opener == "<xaiartifact":
                    return close
            elif opener.startswith(rest):
                maybe = True
        return "" if maybe else None

    def flush(self) -> str:
        st = self.state
        held = "" if st.inside is not None else st.held
        self.state = _State()
        return held


class TagFiltering:
    """One try's strippers, one per text channel."""

    __slots__ = ("strippers",)

    def __init__(self, tags: list[str]) -> None:
        self.strippers = {TextDelta: TagStripper(tags), ReasoningDelta: TagStripper(tags)}

    def chunk(self, event: Event) -> list[Event]:
        cls = type(event)
        if cls is not TextDelta and cls is not ReasoningDelta:
            return [event]
        text = self.strippers[cls].feed(event.text)
        if text == event.text:
            return [event]
        return [cls(text)] if text else []

    def flush(self) -> list[Event]:
        out: list[Event] = []
        for cls, stripper in self.strippers.items():
            held = stripper.flush()
            if held:
                out.append(cls(held))
        return out


class TagFilter:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("features.filter_tags", list[str],
                          ["xaiartifact", "xai:tool_usage_card", "grok:render"],
                          "Upstream inline tags removed from answers (a tag split across frames "
                          "is removed whole).")

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def transform(self, flow: Flow) -> TagFiltering | None:
        tags = self.settings.options.features.filter_tags
        return TagFiltering(tags) if tags else None
