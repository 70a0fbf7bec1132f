"""Stop sequences (Anthropic `stop_sequences`, OpenAI chat `stop`): the answer text ends right
before the first match, and the flow finishes with `finish_reason = "stop_sequence"` and the
matched string in `flow.stop_sequence`; the pipeline then stops reading upstream.

grok.com has no such option, so the match is made here, on the text the client would see
(this addon runs last among the stream transforms). A sequence split across deltas is still
found: the end of each delta that could begin a sequence is held back until the next one.
"""
from __future__ import annotations

from addons.events import Event, TextDelta
from addons.flow import Flow

FINISH = "stop_sequence"


class StopMatcher:
    """Per flow: finds the earliest stop sequence in a stream of text pieces."""

    __slots__ = ("sequences", "held", "matched")

    def __init__(self, sequences: list[str]) -> None:
        self.sequences = sequences
        self.held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """The text that can go on now; sets `matched` when a sequence ends the answer."""
        buf = self.held + text if self.held else text
        cut, found = -1, None
        for seq in self.sequences:
            at = buf.find(seq)
            if at >= 0 and (cut < 0 or at < cut):
                cut, found = at, seq
        if found is not None:
            self.held, self.matched = "", found
            return buf[:cut]
        keep = self._open_prefix(buf)
        self.held = buf[len(buf) - keep:] if keep else ""
        return buf[:len(buf) - keep] if keep else buf

    def _open_prefix(self, buf: str) -> int:
        """Length of the longest end of `buf` that begins some sequence (and is not whole)."""
        longest = 0
        end = len(buf)
        for seq in self.sequences:
            # candidates start where the sequence's first character stands in the last
            # len(seq) - 1 characters; the leftmost one that fits is the longest
            at = buf.find(seq[0], max(0, end - len(seq) + 1))
            while 0 <= at and end - at > longest:
                if seq.startswith(buf[at:]):
                    longest = end - at
                    break
                at = buf.find(seq[0], at + 1)
        return longest

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


class StopMatching:
    """One try's matcher; records the match on the flow, which the pipeline reads to end the
    answer and the dialects to report it."""

    __slots__ = ("flow", "matcher")

    def __init__(self, flow: Flow, stops: list[str]) -> None:
        self.flow = flow
        self.matcher = StopMatcher(stops)

    def chunk(self, event: Event) -> list[Event]:
        matcher = self.matcher
        if matcher.matched is not None:
            return []  # the answer has ended: nothing after the stop reaches the client
        if type(event) is not TextDelta:
            held = matcher.flush()  # a sequence never spans another kind of event
            return [TextDelta(held), event] if held else [event]
        text = matcher.feed(event.text)
        if matcher.matched is not None:
            self.flow.stop_sequence = matcher.matched
            self.flow.finish_reason = FINISH
        if text == event.text:
            return [event]
        return [TextDelta(text)] if text else []

    def flush(self) -> list[Event]:
        if self.matcher.matched is not None:
            self.flow.finish_reason = FINISH  # whatever an earlier addon's flush decided
            return []
        held = self.matcher.flush()
        return [TextDelta(held)] if held else []


class StopSequences:
    """The addon. A flow without stop sequences gets no transform at all."""

    def transform(self, flow: Flow) -> StopMatching | None:
        if flow.request.kind != "chat":
            return None  # a media job's answer has no text to stop
        stops = flow.request.stop
        return StopMatching(flow, stops) if stops else None
