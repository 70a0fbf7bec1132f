"""Stop sequences on a test flow: matches split across deltas, the earliest of several, text
that only looks like a beginning, and the finish state the dialects render."""
from __future__ import annotations

from addons.events import SearchSources, TextDelta
from addons.flow import Flow
from addons.stop_sequences import StopMatcher, StopSequences
from addons.testflow import tflow


def flow(stop: list[str]) -> Flow:
    return tflow(stop=stop)


def run(f: Flow, pieces: list[str]) -> str:
    matching = StopSequences().transform(f)
    out = []
    for piece in pieces:
        out += matching.chunk(TextDelta(piece))
    out += matching.flush()
    return "".join(e.text for e in out)


def test_a_sequence_split_across_deltas_ends_the_answer() -> None:
    f = flow(["\n\nHuman:"])
    assert run(f, ["Sure, here", " it is.\n", "\nHu", "man: more", " text"]) == "Sure, here it is."
    assert f.stop_sequence == "\n\nHuman:" and f.finish_reason == "stop_sequence"


def test_the_earliest_of_several_sequences_wins() -> None:
    f = flow(["END", "STOP"])
    assert run(f, ["one STO", "P two END"]) == "one "
    assert f.stop_sequence == "STOP"


def test_a_false_start_is_released_and_no_match_keeps_everything() -> None:
    f = flow(["</answer>"])
    assert run(f, ["a </ans", "wer is near </", "b>"]) == "a </answer is near </b>"
    assert f.stop_sequence is None and f.finish_reason == "stop"


def test_no_sequences_costs_nothing() -> None:
    assert StopSequences().transform(flow([])) is None


def test_held_text_goes_out_before_another_event_and_nothing_after_a_stop() -> None:
    matching = StopSequences().transform(flow(["##"]))
    sources = SearchSources([{"url": "https://a", "title": "a", "type": "web"}])
    assert matching.chunk(TextDelta("x #")) == [TextDelta("x ")]
    assert matching.chunk(sources) == [TextDelta("#"), sources]
    assert matching.chunk(TextDelta("y ## z")) == [TextDelta("y ")]
    assert matching.chunk(sources) == [] and matching.flush() == []


def test_matcher_holds_only_what_can_still_begin_a_sequence() -> None:
    m = StopMatcher(["abc", "xyz"])
    assert m.feed("123ab") == "123" and m.held == "ab"
    assert m.feed("d") == "abd" and m.held == ""


def test_open_prefix_agrees_with_checking_every_length() -> None:
    import random

    rng = random.Random(3)
    for _ in range(3000):
        seqs = ["".join(rng.choice("ab") for _ in range(rng.randint(1, 6))) for _ in range(3)]
        buf = "".join(rng.choice("abc") for _ in range(rng.randint(0, 10)))
        expected = max((n for s in seqs for n in range(1, min(len(s) - 1, len(buf)) + 1)
                        if buf.endswith(s[:n])), default=0)
        assert StopMatcher(seqs)._open_prefix(buf) == expected, (seqs, buf)
