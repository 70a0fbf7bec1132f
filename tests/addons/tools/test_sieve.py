"""The streaming tool sieve: markup split anywhere never leaks into text."""
from __future__ import annotations

import random

import orjson
import pytest

from addons.events import End, ReasoningDelta, TextDelta, ToolCall
from addons.flow import ChatRequest, Flow, ToolSpec
from addons.tools.sieve import ToolCallSieve, ToolSieve
from addons.testflow import tflow

NAMES = ("get_weather", "search")
CALL = ('<tool_calls>\n  <tool_call>\n    <tool_name>get_weather</tool_name>\n'
        '    <parameters>{"city":"Paris",\n "note":"a < b"}</parameters>\n  </tool_call>\n</tool_calls>')
TWO = CALL.replace("</tool_calls>", '  <tool_call><tool_name>search</tool_name>'
                   '<parameters>{"q":"x"}</parameters></tool_call>\n</tool_calls>')


def run(pieces: list[str], names=NAMES, parallel: bool = True) -> tuple[str, list[ToolCall]]:
    sieve = ToolCallSieve(names, parallel)
    out = []
    for piece in pieces:
        out += sieve.feed(piece)
    out += sieve.flush()
    text = "".join(e.text for e in out if type(e) is TextDelta)
    return text, [e for e in out if type(e) is ToolCall]


def random_splits(text: str, seed: int) -> list[str]:
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(1, len(text)), rnd.randint(1, min(12, len(text) - 1))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def check_call(text: str, calls: list[ToolCall], before: str = "") -> None:
    assert text == before
    assert [(c.name, c.index) for c in calls] == [("get_weather", 0)]
    assert orjson.loads(calls[0].arguments) == {"city": "Paris", "note": "a < b"}
    assert calls[0].id.startswith("call_") and len(calls[0].id) == len("call_") + 13 + 6


@pytest.mark.parametrize("answer,before", [
    (CALL, ""),
    ("Let me look that up.\n" + CALL + "\nDone, waiting.", "Let me look that up.\n"),
    ("```xml\n" + CALL + "\n```", ""),
    ("I will check.\n\n```\n" + CALL + "\n```\n", "I will check.\n\n"),
    ("\n\n  " + CALL, ""),
])
def test_every_split_position(answer, before):
    for cut in range(1, len(answer)):
        check_call(*run([answer[:cut], answer[cut:]]), before=before)
    check_call(*run(list(answer)), before=before)
    for seed in range(40):
        check_call(*run(random_splits(answer, seed)), before=before)


def test_text_before_the_block_is_released_at_once():
    sieve = ToolCallSieve(NAMES)
    assert sieve.feed("Checking the ") == [TextDelta("Checking the ")]
    assert sieve.feed("weather now. <tool") == [TextDelta("weather now. ")]
    assert sieve.feed("_calls>\n<tool_call><tool_name>get_weather</tool_name>") == []
    out = sieve.feed('<parameters>{"city":"Oslo"}</parameters></tool_call></tool_calls> trailing')
    assert [type(e) for e in out] == [ToolCall] and out[0].arguments == '{"city":"Oslo"}'
    assert sieve.feed("more text") == [] and sieve.flush() == []


@pytest.mark.parametrize("text", ["a < b and c<d", "x <b>bold</b> <br/>", "1 <2", "<toolbox> is fine",
                                  "see `code` and <tool_callx>"])
def test_angle_brackets_that_cannot_open_a_block_pass_at_once(text):
    sieve = ToolCallSieve(NAMES)
    sieve.feed("Hi. ")
    assert sieve.feed(text) == [TextDelta(text)]


def test_only_a_possible_prefix_is_held_and_released_when_disproved():
    sieve = ToolCallSieve(NAMES)
    assert sieve.feed("Hello <tool_c") == [TextDelta("Hello ")]
    assert sieve.feed("olour> x") == [TextDelta("<tool_colour> x")]
    assert sieve.feed(" end <") == [TextDelta(" end ")]
    assert sieve.flush() == [TextDelta("<")]


def test_incomplete_block_at_end_is_parsed_or_released():
    # complete enough: parsed
    text, calls = run(list(CALL[:-len("</tool_call>\n</tool_calls>")]))
    assert text == "" and [c.name for c in calls] == ["get_weather"]
    # not a call: released as text, never lost
    broken = "Answer: <tool_calls><tool_call><tool_name>get_wea"
    assert run(list(broken)) == (broken, [])


def test_undeclared_or_bad_block_stays_text_and_text_continues():
    bad = CALL.replace("get_weather", "launch_rockets")
    answer = "A " + bad + " B"
    for pieces in (list(answer), [answer], random_splits(answer, 3)):
        assert run(pieces) == (answer, [])
    invalid = CALL.replace('{"city"', '{city')
    assert run(list(invalid)) == (invalid, [])


def test_parallel_calls_and_parallel_off():
    text, calls = run(list(TWO))
    assert text == "" and [(c.name, c.index) for c in calls] == [("get_weather", 0), ("search", 1)]
    assert len({c.id for c in calls}) == 2
    text, calls = run(list(TWO), parallel=False)
    assert [(c.name, c.index) for c in calls] == [("get_weather", 0)]


def test_sibling_legacy_elements_are_all_calls():
    legacy = ('<tool_call>{"name":"search","arguments":{"q":"a"}}</tool_call>\n'
              '<tool_call>{"name":"search","arguments":{"q":"b"}}</tool_call>')
    text, calls = run(list(legacy))
    assert text == "" and [c.arguments for c in calls] == ['{"q":"a"}', '{"q":"b"}']


def test_leading_json_formats():
    answer = '```json\n{"tool_calls":[{"name":"search","arguments":{"q":"x"}}]}\n```'
    for pieces in (list(answer), random_splits(answer, 1)):
        text, calls = run(pieces)
        assert text == "" and calls[0].arguments == '{"q":"x"}'
    plain = '[1] is a footnote, {"a": 1} is JSON.'
    assert run(list(plain)) == (plain, [])


def make_flow(**kw) -> Flow:
    return tflow(**{"tools": [ToolSpec(n) for n in NAMES], **kw})


def test_addon_emits_calls_and_sets_finish_reason():
    flow = make_flow()
    sieving = ToolSieve().transform(flow)
    out = []
    for ch in "Ok. " + CALL:
        out += sieving.chunk(TextDelta(ch))
    out += sieving.chunk(ReasoningDelta("late <tool_calls>"))  # reasoning is never sieved
    out += sieving.flush()
    assert [type(e) for e in out].count(ToolCall) == 1
    assert "".join(e.text for e in out if type(e) is TextDelta) == "Ok. "
    assert out[-1] == ReasoningDelta("late <tool_calls>")
    assert flow.finish_reason == "tool_calls"


@pytest.mark.parametrize("kw", [{"tool_choice": "none"}, {"tools": []}])
def test_inactive_without_tools_or_with_choice_none(kw):
    flow = make_flow(**kw) if "tools" not in kw else Flow(ChatRequest(model="m", messages=[]))
    assert ToolSieve().transform(flow) is None


def test_plain_text_passes_the_same_event_object():
    sieving = ToolSieve().transform(make_flow())
    first = sieving.chunk(TextDelta("Hello"))
    ev = TextDelta(" world, no markup here.")
    assert first == [TextDelta("Hello")] and sieving.chunk(ev)[0] is ev
    assert sieving.chunk(End()) == [End()]
