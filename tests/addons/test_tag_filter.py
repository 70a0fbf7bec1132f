import pytest

from addons.events import ReasoningDelta, SearchSources, TextDelta
from addons.flow import ChatRequest, Flow
from addons.tag_filter import TagFilter, TagStripper
from state.options import FixedSettings

TAGS = ["xaiartifact", "xai:tool_usage_card", "grok:render"]
RENDER = ('<grok:render card_id="k3x9" card_type="citation_card" type="render_inline_citation">'
          '<argument name="citation_id">0</argument></grok:render>')


def FakeSettings():  # noqa: N802 - used like the class it stood for
    return FixedSettings({"features.filter_tags": TAGS})


def run(pieces: list[str]) -> str:
    stripper = TagStripper(TAGS)
    return "".join(stripper.feed(p) for p in pieces) + stripper.flush()


def splits(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 1000])
def test_render_tag_removed_whatever_the_split(size):
    text = "Paris is the capital." + RENDER + " More text."
    assert run(splits(text, size)) == "Paris is the capital. More text."


@pytest.mark.parametrize("size", [1, 4, 9])
def test_artifact_and_tool_card_removed(size):
    text = ('A<xaiartifact id="1" title="x">code</xaiartifact>B'
            '<xai:tool_usage_card><xai:tool_name><![CDATA[web_search]]></xai:tool_name>'
            '</xai:tool_usage_card>C<xaiartifact src="y"/>D')
    assert run(splits(text, size)) == "ABCD"


@pytest.mark.parametrize("text", [
    "a < b and c > d", "x<y", "<grokking>", "<b>bold</b>", "ends with <", "ends with <grok:ren",
    "1 <3 you", "<xai:other>kept</xai:other>",
])
def test_other_markup_is_kept(text):
    for size in (1, 2, len(text)):
        assert run(splits(text, size)) == text


def test_unclosed_element_is_dropped_at_the_end():
    assert run(["before", "<grok:render card_id='1'>", "inside"]) == "before"


def test_filter_addon_keeps_channels_apart_and_passes_other_events():
    filtering = TagFilter(FakeSettings()).transform(Flow(request=ChatRequest(model="m", messages=[])))
    out = []
    for ev in [TextDelta("Hi <grok:re"), ReasoningDelta("think <xai"), TextDelta('nder a="1">x'),
               SearchSources([{"url": "u"}]), TextDelta("</grok:render> there"),
               ReasoningDelta("fine")]:
        out += filtering.chunk(ev)
    out += filtering.flush()
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in out if isinstance(e, ReasoningDelta))
    assert text == "Hi  there"
    assert reasoning == "think <xaifine"
    assert any(isinstance(e, SearchSources) for e in out)


def test_plain_text_event_passes_through_unchanged():
    filtering = TagFilter(FakeSettings()).transform(Flow(request=ChatRequest(model="m", messages=[])))
    ev = TextDelta("no markup here")
    assert filtering.chunk(ev)[0] is ev
