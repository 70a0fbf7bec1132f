"""Admin input validation: a clear 400 for every doubtful value."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from quart_app.admin.inputs import (
    MAX_PAGE_SIZE, admin_token, parse_pool, parse_tags, query_bool, query_int, token_list,
)


def rejects(fn, *args, **kw) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kw)
    assert info.value.status == 400 and info.value.type == "validation_error"
    return info.value


@pytest.mark.parametrize("raw, why", [
    ("", "empty"), ("   ", "empty"), ("sso=", "empty"), (None, "expected"),
    ("abc def", "whitespace"), ("abc\tdef", "whitespace"),
    ("\ufeffabcdef", "BOM"), ("abc\u200bdef", "invisible"), ("abc\u00a0def", "invisible"),
    ("tökén", "non-ASCII"), ("abc<def", "unexpected"),
])
def test_bad_tokens_are_refused_with_the_reason(raw, why):
    assert why in rejects(admin_token, raw).message


def test_good_tokens_are_normalised():
    assert admin_token("  sso=abc.def-1\n") == "abc.def-1"
    assert admin_token("abc\u2013def") == "abc-def"  # Unicode dash → '-'


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
