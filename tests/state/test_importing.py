from __future__ import annotations

from state.importing import ImportItem, parse_import


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
