"""The tool sieve: turns tool-call markup in the answer text into ToolCall
events, so the markup never reaches a client as content.

A streaming state machine over TextDelta only (reasoning flows through untouched):

* scanning: everything is released at once except a tail that could still open a block (`<`,
  `<tool_c`, …) or a code fence that could wrap one; `a < b` is released immediately;
* capturing: from an opening tag (`<tool_calls`, `<tool_call`, `<function_call`, `<invoke`) up
  to its closing tag nothing is released; the block is then parsed (parse.py). Valid calls
  become ToolCall events and the text after them is dropped; otherwise the block is released
  as text;
* an answer that *starts* with JSON (`{` / `[`, maybe fenced) is captured until the value
  closes, for the JSON call formats;
* at the end, a held tail is released, an unfinished block parsed or released — never lost.

Active only when the request declares tools and tool_choice is not "none".
"""
from __future__ import annotations

import re
from typing import Collection

from addons.events import Event, TextDelta, ToolCall
from addons.flow import Flow, new_id
from addons.tools.parse import parse_tool_calls

OPENERS = ("tool_calls", "tool_call", "function_call", "invoke")
#: An opening tag longer than this is prose, not ours.
MAX_OPEN_TAG = 512
# A code fence opener (or a partial one) at the end of a line-started text, plus whitespace.
_FENCE_TAIL = re.compile(r"(?:^|(?<=\n))[ \t]*(?:`{1,2}|```[\w+-]{0,20}[ \t]*(?:\r?\n[ \t\r\n]*)?)$")
# Leading whitespace and an optional complete fence opener.
_LEAD = re.compile(r"[ \t\r\n]*(?:```[\w+-]{0,20}[ \t]*\r?\n[ \t\r\n]*)?")
_SCAN, _CAPTURE, _JSON = 0, 1, 2


def match_open(s: str, j: int) -> str | None:
    """At `s[j] == "<"`: the closing tag if an opening tag starts here, "" if one still may
    (more text needed), None if it cannot."""
    low = s[j:j + MAX_OPEN_TAG + 1].lower()
    maybe = False
    for name in OPENERS:
        tag = "<" + name
        if low.startswith(tag):
            nxt = low[len(tag):len(tag) + 1]
            if not nxt:
                maybe = True
            elif nxt == ">":
                return f"</{name}>"
            elif nxt in " \t\r\n":
                end = low.find(">", len(tag))
                lt = low.find("<", len(tag))
                if end >= 0 and (lt < 0 or lt > end):
                    return f"</{name}>"
                if end < 0 and lt < 0 and len(low) <= MAX_OPEN_TAG:
                    maybe = True
        elif tag.startswith(low):
            maybe = True
    return "" if maybe else None


class ToolCallSieve:
    """The pure streaming function for one flow: `feed` text, then `flush` once.
    Both return TextDelta and ToolCall events in order."""

    def __init__(self, names: Collection[str], parallel: bool = True) -> None:
        self.names = frozenset(names)
        self.parallel = parallel
        self.mode = _SCAN
        self.done = False  # calls were emitted: later text is dropped
        self.held = ""  # scanning: a tail that may open a block
        self.parts: list[str] = []  # capturing: the block so far
        self.size = 0  # len("".join(parts))
        self.window = ""  # capturing: the tail searched for the closer
        self.closer = ""
        self.depth = 0  # JSON capture: bracket depth, string and escape state
        self.in_str = False
        self.esc = False
        self.started = False  # non-whitespace text was released
        self.line_start = True  # released text ends a line (fences open lines only)
        self.calls = 0
        self._out: list[Event] = []

    # ---- public ------------------------------------------------------------------------
    def feed(self, text: str) -> list[Event]:
        if self.mode == _SCAN and not self.held and self.started and not self.done \
                and "<" not in text and "`" not in text:
            self.line_start = text.endswith("\n") if text else self.line_start
            return [TextDelta(text)]
        if self.done and not self.parallel:
            return []
        self._out = []
        if self.mode == _SCAN:
            self._scan(text)
        elif self.mode == _CAPTURE:
            self._capture(text)
        else:
            self._json(text, 0)
        return self._out

    def flush(self) -> list[Event]:
        self._out = []
        if self.mode == _SCAN:
            self._text(self.held)
        else:
            block = "".join(self.parts)
            if not self._calls(block):
                self._text(block)
        self.held, self.parts, self.mode = "", [], _SCAN
        return self._out

    # ---- output ------------------------------------------------------------------------
    def _text(self, text: str) -> None:
        if not text or self.done:
            return
        if not self.started and not text.isspace():
            self.started = True
        self.line_start = text.endswith("\n")
        out = self._out
        if out and type(out[-1]) is TextDelta:
            out[-1] = TextDelta(out[-1].text + text)
        else:
            out.append(TextDelta(text))

    def _calls(self, block: str) -> bool:
        """Emit the valid calls of `block`; False when it holds none."""
        if self.done and not self.parallel:
            return False
        calls = parse_tool_calls(block, self.names, parallel=self.parallel)
        if not calls:
            return False
        for call in calls:
            self._out.append(ToolCall(new_id("call_", 6), call.name, call.arguments, self.calls))
            self.calls += 1
        self.done = True
        return True

    # ---- states ------------------------------------------------------------------------
    def _scan(self, text: str) -> None:
        s = self.held + text
        self.held = ""
        start = pos = 0
        if not self.started and not self.done:
            lead = _LEAD.match(s).end()
            if lead == len(s) and (s.isspace() or not s):
                self.held = s
                return
            if lead < len(s) and s[lead] in "{[":
                self.mode = _JSON
                self.parts, self.size = [s], len(s)
                self.depth, self.in_str, self.esc = 0, False, False
                self._json(s[lead:], lead, fresh=True)
                return
        while True:
            j = s.find("<", pos)
            if j < 0:
                keep = self._release(s[start:])
                self.held = keep
                return
            closer = match_open(s, j)
            if closer is None:
                pos = j + 1
                continue
            fence = self._release(s[start:j])
            if closer == "":
                self.held = fence + s[j:]
                return
            self.mode = _CAPTURE
            self.closer = closer
            self.parts, self.size, self.window = [], 0, ""
            self._capture(fence + s[j:])
            return

    def _release(self, segment: str) -> str:
        """Release `segment` except a trailing fence opener, which is returned (held). Before
        any text, whitespace is held too: an answer that is only calls has no content."""
        cut = len(segment)
        if "`" in segment:
            m = _FENCE_TAIL.search(segment)
            if m is not None and (m.start() > 0 or self.line_start):
                cut = m.start()
        if not self.started and (cut == 0 or segment[:cut].isspace()):
            return segment
        self._text(segment[:cut])
        return segment[cut:]

    def _capture(self, text: str) -> None:
        base = self.size - len(self.window)
        self.parts.append(text)
        self.size += len(text)
        self.window += text
        k = self.window.lower().find(self.closer)
        if k < 0:
            self.window = self.window[-(len(self.closer) - 1):]
            return
        end = base + k + len(self.closer)
        self._finish_block(end)

    def _json(self, text: str, base: int, fresh: bool = False) -> None:
        """Track brackets of a leading JSON value; `base` is where `text` starts in the block."""
        if not fresh:
            base = self.size
            self.parts.append(text)
            self.size += len(text)
        depth, in_str, esc = self.depth, self.in_str, self.esc
        for p, c in enumerate(text):
            if in_str:
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "{" or c == "[":
                depth += 1
            elif c == "}" or c == "]":
                depth -= 1
                if depth <= 0:
                    self.depth, self.in_str, self.esc = 0, False, False
                    self._finish_block(base + p + 1)
                    return
        self.depth, self.in_str, self.esc = depth, in_str, esc

    def _finish_block(self, end: int) -> None:
        """The captured block ends at `end`: emit calls or text, then scan the rest."""
        joined = "".join(self.parts)
        block, rest = joined[:end], joined[end:]
        self.parts, self.size, self.window, self.mode = [], 0, "", _SCAN
        if not self._calls(block):
            self._text(block)
            self.started = True  # a block released as text is not leading whitespace
        if rest and not (self.done and not self.parallel):
            self._scan(rest)


class ToolSieving:
    """One try's sieve; a call it finds makes the flow finish with `tool_calls`."""

    __slots__ = ("flow", "sieve")

    def __init__(self, flow: Flow, sieve: ToolCallSieve) -> None:
        self.flow = flow
        self.sieve = sieve

    def chunk(self, event: Event) -> list[Event]:
        if type(event) is not TextDelta:
            return [event]
        out = self.sieve.feed(event.text)
        if len(out) == 1 and type(out[0]) is TextDelta and out[0].text == event.text:
            return [event]
        return self._mark(out)

    def flush(self) -> list[Event]:
        return self._mark(self.sieve.flush())

    def _mark(self, out: list[Event]) -> list[Event]:
        for ev in out:
            if type(ev) is ToolCall:
                self.flow.finish_reason = "tool_calls"
                break
        return out


class ToolSieve:
    """The addon: a flow that declares tools gets a fresh sieve for every try."""

    def transform(self, flow: Flow) -> ToolSieving | None:
        req = flow.request
        if req.kind != "chat" or not req.tools or req.tool_choice == "none" \
                or (flow.model is not None and flow.model.console):  # native tool calls
            return None
        return ToolSieving(flow, ToolCallSieve([t.name for t in req.tools],
                                               req.parallel_tool_calls))
