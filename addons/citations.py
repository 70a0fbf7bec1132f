"""Search cards and citations: renders the `<grok:render>` elements of the answer.

Caches the flow's `CardAttachment` cards and search-source titles, turns each complete
`<grok:render>` element of the answer text into its rendered form (`addons.citation_render`),
and emits a `Citation` event after the text that carries each inline citation, so dialects can
report annotations. Runs before the tag filter: the filter then removes only what this addon
did not render (reasoning text, other tags). With `features.show_search_sources` the answer
ends with a `## Sources` section whose marker line lets the prompt builder strip it from
later history (`addons.upstream.prompt.strip_sources`).

Settings: `features.inline_citations` (Markdown links or removed), `features.show_search_sources`.
"""
from __future__ import annotations

from typing import Any

from addons.citation_render import CitationRenderer, md_escape
from addons.events import CardAttachment, Event, SearchSources, TextDelta, ToolCall
from addons.flow import Flow
from addons.upstream.prompt import SOURCES_MARKER
from state.options import Loader


def sources_section(sources: list[dict[str, str]], after_text: bool = True) -> str:
    """The `## Sources` appendix: heading, marker line, one `- [title](url)` line per source."""
    lines = ["## Sources", SOURCES_MARKER]
    lines += [f"- [{md_escape(s.get('title') or s['url'])}]({s['url']})" for s in sources]
    return ("\n\n" if after_text else "") + "\n".join(lines) + "\n"


class CitationRendering:
    """One try's renderer, cards and sources."""

    __slots__ = ("renderer", "show_sources", "sources", "seen", "tool_called")

    def __init__(self, inline: bool, show_sources: bool) -> None:
        self.renderer = CitationRenderer(inline=inline)
        self.show_sources = show_sources
        self.sources: list[dict[str, str]] = []
        self.seen: set[str] = set()
        self.tool_called = False

    def chunk(self, event: Event) -> list[Event]:
        cls = type(event)
        if cls is TextDelta:
            text, cites = self.renderer.feed(event.text)
            if cites:
                return [TextDelta(text), *cites]
            if text == event.text:
                return [event]
            return [TextDelta(text)] if text else []
        if cls is CardAttachment:
            self.renderer.add_card(event.card)
        elif cls is SearchSources:
            self.renderer.add_sources(event.sources)
            for src in event.sources:
                url = src.get("url")
                if url and url not in self.seen:
                    self.seen.add(url)
                    self.sources.append(src)
        elif cls is ToolCall:
            self.tool_called = True
        return [event]

    def flush(self) -> list[Event]:
        out: list[Event] = []
        held = self.renderer.flush()
        if held:
            out.append(TextDelta(held))
        # an answer that is a tool call gets no appendix: its text is not shown as content
        if self.show_sources and self.sources and not self.tool_called:
            out.append(TextDelta(sources_section(self.sources, self.renderer.emitted > 0)))
        return out


class Citations:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("features.show_search_sources", bool, False,
                          "Also append a \"## Sources\" text section to answers that used web "
                          "search.")
        loader.add_option("features.inline_citations", bool, True,
                          "Inline citations: true renders them as \" [[n]](url)\" Markdown links "
                          "(reported as url_citation annotations); false removes them. "
                          "Structured search_sources are returned either way.")

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def transform(self, flow: Flow) -> CitationRendering:
        features = self.settings.options.features
        return CitationRendering(inline=features.inline_citations,
                                 show_sources=features.show_search_sources)
