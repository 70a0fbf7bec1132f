"""One value against its declaration: what each type accepts, and what it refuses."""
from __future__ import annotations

import pytest

from state.config_values import SettingsError
from state.options import FixedSettings, Option, Options

TRANSPORT = Option("upstream.chat_transport", str, "rest", "t", ("rest", "mgw"), {"ws": "mgw"})


@pytest.mark.parametrize("option,raw,expected", [
    (Option("a.flag", bool, False, "h"), "Yes", True),
    (Option("a.flag", bool, False, "h"), "off", False),
    (Option("a.flag", bool, False, "h"), 1, True),
    (Option("a.n", int, 1, "h"), " 42 ", 42),
    (Option("a.n", int, 1, "h"), 3.0, 3),
    (Option("a.x", float, 1.0, "h"), "2.5", 2.5),
    (Option("a.x", float, 1.0, "h"), 2, 2.0),
    (Option("a.s", str, "", "h"), 1234, "1234"),
    (Option("a.l", list[str], [], "h"), "a, b\nc,,", ("a", "b", "c")),
    (Option("a.l", list[str], [], "h"), '["a", " b "]', ("a", "b")),
    (Option("a.c", list[int], [], "h"), "[403, 429]", (403, 429)),
    (Option("a.c", list[int], [], "h"), "401,429", (401, 429)),
    (TRANSPORT, " mgw ", "mgw"),
    (TRANSPORT, "ws", "mgw"),
])
def test_accepted_values(option: Option, raw: object, expected: object) -> None:
    assert option.parse(raw) == expected


@pytest.mark.parametrize("option,raw,message", [
    (Option("a.flag", bool, False, "h"), "maybe", "a.flag: expected true or false"),
    (Option("a.flag", bool, False, "h"), "", "a.flag: expected true or false"),
    (Option("a.n", int, 1, "h"), 2.5, "a.n: expected an integer"),
    (Option("a.n", int, 1, "h"), True, "a.n: expected an integer"),
    (Option("a.x", float, 1.0, "h"), "soon", "a.x: expected a number"),
    (Option("a.s", str, "", "h"), 5.5, "a.s: expected a string"),
    (Option("a.c", list[int], [], "h"), "403,abc", "a.c: expected a list of integers"),
    (Option("a.l", list[str], [], "h"), {"x": 1}, "a.l: expected a list"),
    (TRANSPORT, "grpc", "upstream.chat_transport: must be one of rest | mgw, got 'grpc'"),
])
def test_refused_values_name_the_key(option: Option, raw: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("|", r"\|")):
        option.parse(raw)


def test_options_by_attribute_and_by_name() -> None:
    opts = Options({"a.b": 1, "a.c.d": (2,), "e": "x"})
    assert (opts.a.b, opts.a.c.d, opts.e) == (1, (2,), "x")
    assert opts["a.c.d"] == (2,) and "a.b" in opts and "a" not in opts


def test_fixed_settings_take_only_declared_keys() -> None:
    assert FixedSettings({"retry.max_retries": "3"}).options.retry.max_retries == 3
    with pytest.raises(SettingsError, match="cache.keep_base64_cache: unknown setting"):
        FixedSettings({"cache.keep_base64_cache": True})
