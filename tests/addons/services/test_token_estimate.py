from addons.services.token_estimate import estimate_tokens


def test_estimates_grow_with_text_and_handle_cjk():
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello") == 1
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("12345678") == 3
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("a " * 100) == 100
    assert estimate_tokens("internationalization") == 4


def reference_estimate(text: str) -> int:
    """The rule as written in the module docstring, piece by piece."""
    import re

    count = 0
    for piece in re.findall(r"[A-Za-z]+|\d+|\S", text):
        if piece[0].isdigit():
            count += (len(piece) + 2) // 3
        elif len(piece) <= 7:
            count += 1
        else:
            count += (len(piece) + 5) // 6
    return count


def test_estimate_follows_the_rule_on_mixed_text():
    import random

    rng = random.Random(7)
    mixed = "abcXYZ0123456789 ,.!\n\t你好🌍²٣_-"
    ascii_only = "abcdefghXYZ0123456789 ,.!\n\t\x1c\x1f\x0b_-{}"
    for i in range(4000):
        alphabet = ascii_only if i % 2 else mixed
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        text += rng.choice(["", "supercalifragilistic", "1234567890123", "w0 w1 w2 "])
        assert estimate_tokens(text) == reference_estimate(text), text
