"""The non-stream side of the dialects: drain a pipeline's events, then render them at once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from addons.events import Citation, End, ReasoningDelta, Restart, SearchSources, TextDelta, ToolCall
from addons.flow import Flow


class Sources:
    """Search sources of a flow, de-duplicated by URL, in order of arrival."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self._seen: set[str] = set()

    def add(self, sources: list[dict[str, str]]) -> None:
        for src in sources:
            url = src.get("url")
            if url and url not in self._seen:
                self._seen.add(url)
                self.items.append(src)


@dataclass
class Collected:
    """What an answer produced; a Restart discards all but the finish reason.

    `text_after_calls=False` drops text and citations that arrive after the first tool call.
    """

    text_after_calls: bool = True
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    cites: list[Citation] = field(default_factory=list)
    sources: Sources = field(default_factory=Sources)
    finish: str = "stop"

    def feed(self, ev: object) -> None:
        cls = type(ev)
        if cls is TextDelta:
            if self.text_after_calls or not self.calls:
                self.text.append(ev.text)
        elif cls is ReasoningDelta:
            self.reasoning.append(ev.text)
        elif cls is ToolCall:
            self.calls.append(ev)
        elif cls is SearchSources:
            self.sources.add(ev.sources)
        elif cls is Citation:
            if self.text_after_calls or not self.calls:
                self.cites.append(ev)
        elif cls is Restart:
            self.text.clear()
            self.reasoning.clear()
            self.calls.clear()
            self.cites.clear()
            self.sources = Sources()
        elif cls is End:
            self.finish = ev.finish_reason


async def drain(pipeline: Any, flow: Flow, feed: Callable[[object], None]) -> None:
    """Feeds every event of the flow to `feed`; always closes the pipeline."""
    try:
        async for batch in pipeline.events(flow):
            for ev in batch:
                feed(ev)
    finally:
        await pipeline.close(flow)


async def collect(pipeline: Any, flow: Flow, *, text_after_calls: bool = True) -> Collected:
    """Drains the flow into a `Collected`."""
    got = Collected(text_after_calls)
    await drain(pipeline, flow, got.feed)
    return got
