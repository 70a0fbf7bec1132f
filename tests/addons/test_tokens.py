from addons.tokens import estimate_tokens


def test_estimates_grow_with_text_and_handle_cjk():
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello") == 1
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("12345678") == 3
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("a " * 100) == 100
    assert estimate_tokens("internationalization") == 4
