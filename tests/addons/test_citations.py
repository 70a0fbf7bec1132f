"""The citations addon on a test flow: cards cached, Citation events, Sources appendix, chain order."""
from __future__ import annotations

from addons.chain import Chain
from addons.citations import Citations, sources_section
from addons.events import CardAttachment, Citation, SearchSources, TextDelta, ToolCall
from addons.flow import Flow
from addons.tag_filter import TagFilter
from addons.upstream.prompt import strip_sources
from addons.testflow import tflow
from state.options import FixedSettings

URL = "https://en.wikipedia.org/wiki/Paris"
CARD = {"id": "k3x9", "type": "render_inline_citation", "cardType": "citation_card", "url": URL}
RENDER = ('<grok:render card_id="k3x9" card_type="citation_card" type="render_inline_citation">'
          '<argument name="citation_id">0</argument></grok:render>')
SOURCES = [{"url": URL, "title": "Paris - Wikipedia", "type": "web"},
           {"url": "https://x.com/someone/status/1", "title": "𝕏/@someone: [hi]", "type": "x"}]


def FakeSettings(**values):  # noqa: N802 - used like the class it stood for
    return FixedSettings(values)


def new_flow() -> Flow:
    return tflow()


def drive(chain: Chain, events: list) -> list:
    transforms = chain.transforms(new_flow())
    out = []
    for ev in events:
        out += transforms.chunk(ev)
    return out + transforms.flush()


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_citation_rendered_with_event_after_its_text():
    settings = FakeSettings()
    chain = Chain([Citations(settings), TagFilter(settings)])
    out = drive(chain, [SearchSources(SOURCES), CardAttachment(CARD), TextDelta("Paris."),
                        TextDelta(RENDER[:20]), TextDelta(RENDER[20:]), TextDelta(" End.")])
    text = text_of(out)
    assert text == f"Paris. [[1]]({URL}) End."
    cites = [e for e in out if isinstance(e, Citation)]
    assert cites == [Citation(URL, "Paris - Wikipedia", 6, 6 + len(f" [[1]]({URL})"))]
    assert isinstance(out[out.index(cites[0]) - 1], TextDelta)
    # cards and sources still reach later addons and the dialects
    assert any(isinstance(e, CardAttachment) for e in out)
    assert any(isinstance(e, SearchSources) for e in out)


def test_plain_text_event_passes_through_unchanged():
    addon = Citations(FakeSettings())
    ev = TextDelta("no markup here")
    assert addon.transform(new_flow()).chunk(ev) == [ev]


def test_unknown_card_removed_before_the_tag_filter():
    settings = FakeSettings()
    out = drive(Chain([Citations(settings), TagFilter(settings)]), [TextDelta("a" + RENDER + "b")])
    assert text_of(out) == "ab" and not any(isinstance(e, Citation) for e in out)


def test_show_search_sources_appends_the_section():
    settings = FakeSettings(**{"features.show_search_sources": True})
    out = drive(Chain([Citations(settings)]), [SearchSources(SOURCES), TextDelta("Answer.")])
    text = text_of(out)
    assert text == ("Answer.\n\n## Sources\n[grok2api-sources]: #\n"
                    f"- [Paris - Wikipedia]({URL})\n"
                    "- [𝕏/@someone: \\[hi\\]](https://x.com/someone/status/1)\n")
    assert strip_sources(text) == "Answer."


def test_no_section_without_sources_or_after_a_tool_call():
    settings = FakeSettings(**{"features.show_search_sources": True})
    assert text_of(drive(Chain([Citations(settings)]), [TextDelta("Answer.")])) == "Answer."
    out = drive(Chain([Citations(settings)]),
                [SearchSources(SOURCES), ToolCall("call_1", "f", "{}")])
    assert text_of(out) == ""


def test_section_off_by_default():
    out = drive(Chain([Citations(FakeSettings())]), [SearchSources(SOURCES), TextDelta("A.")])
    assert text_of(out) == "A."


def test_sources_section_without_text():
    assert sources_section(SOURCES[:1], after_text=False).startswith("## Sources\n")


def test_chain_order_puts_citations_right_before_the_tag_filter():
    from addons import build_chain

    chain = build_chain(settings=None, pool=None, catalogue=None, ledger=None)
    names = [type(a).__name__ for a in chain.addons]
    assert names.index("Citations") + 1 == names.index("TagFilter")
