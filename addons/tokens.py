"""Offline token estimates (GEN-7). Nothing is downloaded: a regex approximates a BPE count.

Latin words up to 7 letters count one token and longer ones one per 6 letters, digits one
per 3, every other visible character
(CJK, emoji, punctuation) one token each. Close enough for usage blocks, which are estimates.
"""
from __future__ import annotations

import re

_PIECES = re.compile(r"[A-Za-z]+|\d+|\S")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
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
