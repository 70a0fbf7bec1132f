"""Admin input validation: a clear 400 for every doubtful value."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from quart_app.admin.inputs import (
    MAX_PAGE_SIZE, admin_token, parse_pool, parse_tags, query_bool, query_int, token_items,
    token_list,
)


def rejects(fn, *args, **kw) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kw)
    assert info.value.status == 400 and info.value.type == "validation_error"
    return info.value


@pytest.mark.parametrize("raw, why", [
    ("", "empty"), ("   ", "empty"), ("sso=", "empty"), (None, "expected"),
    ("abc def", "whitespace"), ("abc\tdef", "whitespace"), ('"abc def"', "whitespace"),
    ("tökén", "non-ASCII"), ("abc<def", "unexpected"), ('"abcdef', "unexpected"),
])
def test_bad_tokens_are_refused_with_the_reason(raw, why):
    assert why in rejects(admin_token, raw).message


@pytest.mark.parametrize("raw", [
    "abc.def-1", "  sso=abc.def-1\n", "SSO=abc.def-1",  # sso= prefix, any case
    "\ufeffabc.def-1", "abc.def-1\r", "\ufeffabc.def-1\r\n",  # a Windows file: BOM, CRLF
    '"abc.def-1"', "'abc.def-1'", "\u201cabc.def-1\u201d", 'sso="abc.def-1"',  # quotes
    "\u200babc.def\u200c-1\u200d", "abc.def\u00a0-1\u2060",  # zero-width, no-break spaces
    "abc.def\u20131",  # Unicode dash → '-'
    "theme=dark; sso=abc.def-1; sso-rw=x",  # a whole cookie string
])
def test_pasted_tokens_are_normalised(raw):
    assert admin_token(raw) == "abc.def-1"


def test_token_items_keeps_the_good_and_lists_the_bad():
    good, bad = token_items(["\ufeffa1", "two tokens", 7, '"b2"', "a1", "é"])
    assert good == ["a1", "b2"]
    assert [(p.index, p.param) for p in bad] == [(1, "tokens[1]"), (2, "tokens[2]"),
                                                 (5, "tokens[5]")]
    assert "whitespace" in bad[0].message and "expected a token string" in bad[1].message
    assert "non-ASCII" in bad[2].message
    assert "empty" in rejects(token_items, []).message
    rejects(token_items, "a1")


def test_token_lists():
    assert token_list(["a1", "a1", "b2"]) == ["a1", "b2"]
    assert token_list(None, allow_empty=True) == [] and token_list([], allow_empty=True) == []
    assert "empty" in rejects(token_list, []).message
    assert "tokens[1]" in rejects(token_list, ["ok", "bad token"]).message
    rejects(token_list, "a1")


def test_pools():
    assert parse_pool("ssoSuper") == "super" and parse_pool("auto", allow_auto=True) is None
    assert rejects(parse_pool, "auto").code == "unknown_pool"
    assert rejects(parse_pool, "gold").code == "unknown_pool"
    rejects(parse_pool, 3)


def test_tags():
    assert parse_tags(["nsfw", "nsfw", " vip "]) == ["nsfw", "vip"] and parse_tags(None) == []
    rejects(parse_tags, "nsfw")
    rejects(parse_tags, [""])
    rejects(parse_tags, ["two words"])


def test_query_numbers_and_flags():
    assert query_int({}, "page", 1) == 1 and query_int({"page": "3"}, "page", 1) == 3
    assert query_int({"n": str(MAX_PAGE_SIZE)}, "n", 1, high=MAX_PAGE_SIZE) == MAX_PAGE_SIZE
    rejects(query_int, {"n": str(MAX_PAGE_SIZE + 1)}, "n", 1, high=MAX_PAGE_SIZE)
    rejects(query_int, {"n": "0"}, "n", 1)
    rejects(query_int, {"n": "x"}, "n", 1)
    assert query_bool({"async": "true"}, "async", False) is True
    assert query_bool({"async": "0"}, "async", True) is False
    assert query_bool({}, "async", True) is True
    rejects(query_bool, {"async": "maybe"}, "async", False)
