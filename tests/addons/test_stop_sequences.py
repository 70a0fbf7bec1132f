"""Stop sequences on a test flow: matches split across deltas, the earliest of several, text
that only looks like a beginning, and the finish state the dialects render."""
from __future__ import annotations

from addons.events import SearchSources, TextDelta
from addons.flow import ChatRequest, Flow, Message
from addons.stop_sequences import StopMatcher, StopSequences


def flow(stop: list[str]) -> Flow:
    return Flow(ChatRequest(model="m", messages=[Message("user", ["hi"])], stop=stop))


def run(f: Flow, pieces: list[str]) -> str:
    addon = StopSequences()
    out = []
    for piece in pieces:
        out += addon.chunk(f, TextDelta(piece))
    out += addon.flush(f)
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


def test_no_sequences_passes_events_through_untouched() -> None:
    f, addon = flow([]), StopSequences()
    ev = TextDelta("x")
    assert addon.chunk(f, ev) == [ev] and addon.flush(f) == []


def test_held_text_goes_out_before_another_event_and_nothing_after_a_stop() -> None:
    f, addon = flow(["##"]), StopSequences()
    sources = SearchSources([{"url": "https://a", "title": "a", "type": "web"}])
    assert addon.chunk(f, TextDelta("x #")) == [TextDelta("x ")]
    assert addon.chunk(f, sources) == [TextDelta("#"), sources]
    assert addon.chunk(f, TextDelta("y ## z")) == [TextDelta("y ")]
    assert addon.chunk(f, sources) == [] and addon.flush(f) == []


def test_a_retry_starts_matching_afresh() -> None:
    f, addon = flow(["!"]), StopSequences()
    addon.chunk(f, TextDelta("hi!"))
    assert f.stop_sequence == "!"
    addon.attempt(f)  # failover to another account
    assert f.stop_sequence is None and f.finish_reason == "stop"
    assert addon.chunk(f, TextDelta("ok")) == [TextDelta("ok")]


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
