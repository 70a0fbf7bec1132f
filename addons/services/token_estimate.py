"""Offline token estimates (grok.com reports no token counts). Nothing is downloaded: a regex
approximates a BPE count.

Latin words up to 7 letters count one token and longer ones one per 6 letters, digits one
per 3, every other visible character
(CJK, emoji, punctuation) one token each. Close enough for usage blocks, which are estimates.

Every prompt and answer is counted, so this is on the hot path: ASCII text (most of it) is
counted with byte translations and splits, which give the same result as the regex without
a Python step per piece; other text takes the regex.
"""
from __future__ import annotations

import re

_PIECES = re.compile(r"[A-Za-z]+|\d+|\S")

_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset(b"0123456789")
_SPACES = bytes(c for c in range(128) if chr(c).isspace())  # what the regex's \S skips
#: bytes → letters kept, all else a space (so `split()` yields the words); likewise digits
_ONLY_LETTERS = bytes(c if c in _LETTERS else 32 for c in range(256))
_ONLY_DIGITS = bytes(c if c in _DIGITS else 32 for c in range(256))
_NOT_OTHER = bytes(_LETTERS | _DIGITS) + _SPACES


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    if text.isascii():
        return _estimate_ascii(text.encode("ascii"))
    count = 0
    for piece in _PIECES.findall(text):
        size = len(piece)
        if piece[0].isdigit():
            count += (size + 2) // 3
        elif size <= 7:
            count += 1
        else:
            count += (size + 5) // 6
    return count


def _estimate_ascii(raw: bytes) -> int:
    words = raw.translate(_ONLY_LETTERS).split()
    numbers = raw.translate(_ONLY_DIGITS).split()
    count = len(raw.translate(None, _NOT_OTHER)) + len(words) + len(numbers)
    if words and max(map(len, words)) > 7:  # one token per 6 letters instead of one
        count += sum((len(w) + 5) // 6 - 1 for w in words if len(w) > 7)
    if numbers and max(map(len, numbers)) > 3:  # one token per 3 digits instead of one
        count += sum((len(n) + 2) // 3 - 1 for n in numbers if len(n) > 3)
    return count
