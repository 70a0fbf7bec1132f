"""The pages' strings in English and Simplified Chinese: `i18n/<lang>/<part>.json`, each a
flat object; a key is `<part>.<name>` (`accounts.title`). The language is the `lang` cookie
the switch sets, else the browser's `Accept-Language`, else English. A key missing in one
language falls back to English, then to the key itself, so a gap shows, never breaks."""
from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["LANGUAGES", "choose_language", "strings"]

LANGUAGES = ("en", "zh")
ROOT = Path(__file__).parent / "i18n"


@functools.cache
def strings(lang: str) -> Mapping[str, str]:
    """Every string of `lang`, English filling its gaps (read once per process)."""
    merged: dict[str, str] = {} if lang == "en" else dict(strings("en"))
    for path in sorted((ROOT / lang).glob("*.json")):
        part = path.stem
        for name, text in json.loads(path.read_text("utf-8")).items():
            merged[f"{part}.{name}"] = text
    return merged


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    for item in (accept_language or "").split(","):
        tag = item.split(";", 1)[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"
