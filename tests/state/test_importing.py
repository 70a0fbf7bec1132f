from __future__ import annotations

import pytest

from state.importing import ImportItem, decode_import, parse_import


def test_text_lines() -> None:
    text = "\ufeff# my tokens\n\nsso=aaa.bbb\n  ccc.ddd  \nsso=aaa.bbb\naaa.bbb\n"
    result = parse_import(text)
    assert result.tokens == [ImportItem("aaa.bbb", None, []), ImportItem("ccc.ddd", None, [])]
    assert result.errors == []
    assert result.duplicates == 2


def test_cookie_string_line() -> None:
    result = parse_import("sso-rw=zzz; sso=tok.en; other=1\n")
    assert [t.token for t in result.tokens] == ["tok.en"]


def test_malformed_lines_are_reported_with_numbers() -> None:
    text = "good.one\ntwo tokens\néàü\nbad\"quote\n" + "x" * 800 + "\nsecond.good\n"
    result = parse_import(text)
    assert [t.token for t in result.tokens] == ["good.one", "second.good"]
    lines = [n for n, _ in result.errors]
    assert lines == [2, 3, 4, 5]
    messages = dict(result.errors)
    assert "whitespace" in messages[2]
    assert "non-ASCII" in messages[3]
    assert "unexpected character" in messages[4]
    assert "longer than" in messages[5]


def test_invisible_characters_inside_a_token_are_dropped() -> None:
    result = parse_import("ab\u200bcd\u00a0ef\u2013gh\n")
    assert [t.token for t in result.tokens] == ["abcdef-gh"]


def test_json_by_pool() -> None:
    text = '{\n "basic": ["tok1", {"token": "sso=tok2", "tags": ["nsfw"]}],\n "super": ["tok3"],\n "heavy": []\n}'
    result = parse_import(text)
    assert result.tokens == [ImportItem("tok1", "basic", []), ImportItem("tok2", "basic", ["nsfw"]),
                             ImportItem("tok3", "super", [])]
    assert result.errors == []


def test_json_fork_shape_and_errors() -> None:
    text = ('{"ssoBasic": [{"token": "f1", "status": "active", "note": "x"}, {"nope": 1}],\n'
            ' "ssoSuper": [{"token": "f2", "tags": ["a"]}, {"token": "f1"}],\n'
            ' "weird": ["t"]}')
    result = parse_import(text)
    assert result.tokens == [ImportItem("f1", "basic", []), ImportItem("f2", "super", ["a"])]
    assert result.duplicates == 1
    assert len(result.errors) == 2
    assert any("ssoBasic[1]" in m for _, m in result.errors)
    assert any("unknown pool 'weird'" in m and n == 3 for n, m in result.errors)


def test_json_list_and_bad_json() -> None:
    assert [t.token for t in parse_import('["a1", {"token": "a2"}]').tokens] == ["a1", "a2"]
    bad = parse_import('{"basic": [\n"a",\n')
    assert bad.tokens == [] and bad.errors and "invalid JSON" in bad.errors[0][1]
    item = parse_import('{"basic": ["ok", "ba d"]}')
    assert [t.token for t in item.tokens] == ["ok", "bad"]  # JSON values: whitespace normalised away


def test_windows_line_ends_quotes_and_bom_on_every_line() -> None:
    text = "\ufeff\"aaa.bbb\"\r\n'ccc.ddd'\r\n\ufeffsso=\"eee.fff\"\r\n\u200bggg.hhh\u200b\r"
    result = parse_import(text)
    assert [t.token for t in result.tokens] == ["aaa.bbb", "ccc.ddd", "eee.fff", "ggg.hhh"]
    assert result.errors == []


def test_letters_outside_ascii_are_reported_not_dropped() -> None:
    result = parse_import("t\u00f6ken.one\ngood.two\n")
    assert [t.token for t in result.tokens] == ["good.two"]
    assert result.errors == [(1, "non-ASCII characters in the token")]


def test_decode_import() -> None:
    assert decode_import("\ufefftok".encode("utf-8")) == "tok"
    assert decode_import("tok\r\n".encode("utf-16")) == "tok\r\n"
    assert decode_import(b"plain") == "plain"
    with pytest.raises(ValueError, match="UTF-8"):
        decode_import(b"\xff\x00\xfe")
    with pytest.raises(ValueError, match="UTF-8"):
        decode_import(b"\xff\xfeA")  # a UTF-16 mark on an odd number of bytes
