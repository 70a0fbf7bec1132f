"""The console's Responses SSE stream (C2, console-and-voice §3.5) → neutral events.

Same interface as the grok.com frame parser (`feed`, `close`, `complete`), so the curl stream
reads either. Raw reasoning wins over the summary (the console may publish the same thought
as both): summary deltas are kept back and given only if no raw text came. The answer is whole
only with `response.completed` / `response.incomplete`; `data: [DONE]` alone is not enough.
"""
from __future__ import annotations

from typing import Any

import orjson

from addons.events import (
    TRUNCATED_MESSAGE, UPSTREAM_TRUNCATED, End, Event, ReasoningDelta, TextDelta, ToolCall,
    UpstreamFailure,
)

MAX_LINE_BYTES = 16 << 20


def error_status(error: Any) -> int:
    """An in-stream error's HTTP-like status: a rate limit is a 429, anything else a 502."""
    text = orjson.dumps(error).decode("utf-8", "replace").lower() if error is not None else ""
    if "rate limit" in text or "resource-exhausted" in text or "too many requests" in text:
        return 429
    return 502


class ResponsesParser:
    __slots__ = ("_buf", "_complete", "_failed", "_ended", "_raw", "_summary", "_calls",
                 "_finish")

    def __init__(self) -> None:
        self._buf = b""
        self._complete = False
        self._failed = False
        self._ended = False
        self._raw = False  # raw reasoning text came: summaries are dropped
        self._summary: list[str] = []
        self._calls = 0
        self._finish = "stop"

    @property
    def complete(self) -> bool:
        return self._complete and not self._failed

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        if self._failed or self._ended or not data:
            return out
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._buf = buf
            if len(buf) > MAX_LINE_BYTES:
                self._fail(502, "upstream event too large", out)
            return out
        self._buf = buf[cut + 1:]
        for line in buf[:cut].split(b"\n"):
            self._line(line, out)
            if self._failed or self._ended:
                break
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        rest, self._buf = self._buf, b""
        if rest.strip() and not (self._failed or self._ended):
            self._line(rest, out)
        if self._failed or self._ended:
            return out
        if self._complete:
            self._end(out)
        else:
            self._fail(502, TRUNCATED_MESSAGE, out, UPSTREAM_TRUNCATED)
        return out

    def _line(self, line: bytes, out: list[Event]) -> None:
        line = line.strip()
        if not line.startswith(b"data:"):
            return  # `event:` names repeat the data's `type`; comments, blank lines
        data = line[5:].strip()
        if data == b"[DONE]" or not data.startswith(b"{"):
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if type(obj) is dict:
            self._event(obj, out)

    def _event(self, obj: dict[str, Any], out: list[Event]) -> None:
        kind = obj.get("type")
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            delta = obj.get("delta")
            if isinstance(delta, str) and delta:
                self._give_summary(out)
                out.append(TextDelta(delta))
        elif kind == "response.reasoning_text.delta":
            delta = obj.get("delta")
            if isinstance(delta, str) and delta:
                self._raw = True
                self._summary.clear()
                out.append(ReasoningDelta(delta))
        elif kind == "response.reasoning_summary_text.delta":
            delta = obj.get("delta")
            if isinstance(delta, str) and delta and not self._raw:
                self._summary.append(delta)
        elif kind == "response.output_item.done":
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._give_summary(out)
                out.append(ToolCall(str(item.get("call_id") or item.get("id") or ""),
                                    str(item.get("name") or ""),
                                    str(item.get("arguments") or "{}"), self._calls))
                self._calls += 1
                self._finish = "tool_calls"
        elif kind == "response.completed" or kind == "response.incomplete":
            self._give_summary(out)
            self._complete = True
            if kind == "response.incomplete" and self._finish == "stop":
                self._finish = "length"
            self._end(out)
        elif kind == "error" or kind == "response.failed":
            error = obj.get("error")
            if error is None and isinstance(obj.get("response"), dict):
                error = obj["response"].get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self._fail(error_status(error), f"Upstream stream error: {message or kind}", out,
                       body=orjson.dumps(obj).decode("utf-8", "replace")[:4096])

    def _give_summary(self, out: list[Event]) -> None:
        if self._summary and not self._raw:
            out.append(ReasoningDelta("".join(self._summary)))
        self._summary.clear()

    def _end(self, out: list[Event]) -> None:
        if not self._ended:
            self._ended = True
            out.append(End(self._finish))

    def _fail(self, status: int, message: str, out: list[Event], code: str = "",
              body: str = "") -> None:
        self._failed = True
        out.append(UpstreamFailure(status, message, body, code))
