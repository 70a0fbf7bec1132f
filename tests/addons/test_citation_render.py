"""The pure `<grok:render>` renderer: every split position, numbering, cards, offsets."""
from __future__ import annotations

import pytest

from addons.citation_render import CitationRenderer, attributes

URL = "https://en.wikipedia.org/wiki/Paris"
URL2 = "https://www.britannica.com/place/Paris"
CITE_CARD = {"id": "k3x9", "type": "render_inline_citation", "cardType": "citation_card", "url": URL}
CITE_CARD2 = {"id": "b7", "type": "render_inline_citation", "cardType": "citation_card", "url": URL2}
IMAGE_CARD = {"id": "s8p1", "type": "render_searched_image", "cardType": "search_image_card",
              "image": {"title": "Eiffel [Tower]", "thumbnail": "https://t/thumb.jpg",
                        "original": "https://t/full.jpg", "link": "https://t/page"}}
GEN_CARD = {"id": "x1Xyo", "type": "render_generated_image", "cardType": "generated_image_card",
            "image_chunk": None}


def render_tag(card_id: str, kind: str = "render_inline_citation") -> str:
    return (f'<grok:render card_id="{card_id}" card_type="citation_card" type="{kind}">'
            '<argument name="citation_id">0</argument></grok:render>')


CITE = render_tag("k3x9")
LINK = f" [[1]]({URL})"


def make(inline: bool = True) -> CitationRenderer:
    r = CitationRenderer(inline=inline)
    for card in (CITE_CARD, CITE_CARD2, IMAGE_CARD, GEN_CARD):
        r.add_card(card)
    r.add_sources([{"url": URL, "title": "Paris - Wikipedia", "type": "web"}])
    return r


def run(pieces: list[str], r: CitationRenderer | None = None):
    r = r or make()
    out, cites = [], []
    for piece in pieces:
        text, found = r.feed(piece)
        out.append(text)
        cites += found
    out.append(r.flush())
    return "".join(out), cites


def test_whole_citation_in_one_token():
    text, cites = run(["The capital of France is Paris.", CITE])
    assert text == "The capital of France is Paris." + LINK
    [c] = cites
    assert (c.url, c.title) == (URL, "Paris - Wikipedia")
    assert text[c.start:c.end] == LINK


def test_split_at_every_position():
    source = "A < b. Paris." + CITE + " Again" + render_tag("b7") + CITE + "<grok:renderer> x <"
    expected = f"A < b. Paris.{LINK} Again [[2]]({URL2}) [[1]]({URL})<grok:renderer> x <"
    for i in range(len(source) + 1):
        for j in range(i, len(source) + 1, 7):
            text, cites = run([source[:i], source[i:j], source[j:]])
            assert text == expected, (i, j)
            assert [text[c.start:c.end] for c in cites] == [LINK, f" [[2]]({URL2})", LINK]


def test_one_character_tokens():
    source = "x" + CITE + "y"
    text, cites = run(list(source))
    assert text == "x" + LINK + "y"
    assert text[cites[0].start:cites[0].end] == LINK


def test_immediately_repeated_citation_dropped():
    text, cites = run(["Paris.", CITE, CITE, " \n", CITE, " Also.", CITE])
    assert text == f"Paris.{LINK} \n Also.{LINK}"
    assert len(cites) == 2 and all(text[c.start:c.end] == LINK for c in cites)


def test_numbers_follow_first_citation_order():
    text, _ = run(["a", render_tag("b7"), " b", CITE, " c", render_tag("b7")])
    assert text == f"a [[1]]({URL2}) b [[2]]({URL}) c [[1]]({URL2})"


def test_title_falls_back_to_url():
    _, cites = run(["a", render_tag("b7")])
    assert cites[0].title == URL2


def test_unknown_card_and_generated_image_removed():
    text, cites = run(["a", render_tag("nope"), "b", render_tag("x1Xyo", "render_generated_image"),
                       "c", render_tag("k3x9", "render_unknown"), "d"])
    assert (text, cites) == ("abcd", [])


def test_self_closing_element():
    text, _ = run(['a<grok:render card_id="k3x9" type="render_inline_citation"/>b'])
    assert text == "a" + LINK + "b"


def test_searched_image():
    text, cites = run(["Look: ", render_tag("s8p1", "render_searched_image")])
    assert text == r"Look: [![Eiffel \[Tower\]](https://t/thumb.jpg)](https://t/page)"
    assert cites == []
    r = CitationRenderer()
    r.add_card({"id": "i", "image": {"title": "T", "original": "https://o.jpg"}})
    assert run([render_tag("i", "render_searched_image")], r)[0] == "![T](https://o.jpg)"


def test_inline_citations_off_removes_them():
    text, cites = run(["Paris.", CITE], make(inline=False))
    assert (text, cites) == ("Paris.", [])


def test_offsets_count_everything_returned_before():
    r = make()
    run(["first answer part. "], r)
    text, cites = r.feed("x" + CITE)
    assert cites[0].start == len("first answer part. x")


def test_unfinished_element_released_at_flush():
    text, cites = run(["a<grok:render card_id=\"k3x9\" type=\"render_inline_citation\">0"])
    assert text == 'a<grok:render card_id="k3x9" type="render_inline_citation">0' and cites == []


def test_overlong_element_released_as_text():
    r = make()
    text, _ = r.feed("a<grok:render " + "x" * 20000)
    assert text.startswith("a<grok:render ")


@pytest.mark.parametrize("tag,expected", [
    ('<grok:render card_id="a" card_type="b" type="c">', {"card_id": "a", "card_type": "b", "type": "c"}),
    ("<grok:render>", {}),
])
def test_attributes(tag, expected):
    assert attributes(tag) == expected
