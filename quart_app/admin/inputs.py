"""Validation of admin input. Pure: every function returns clean values or raises a 400
(`validation_error`) that says what is wrong, before anything is changed.

Tokens typed or pasted by an operator are checked strictly: surrounding whitespace and an
`sso=` prefix are dropped and Unicode dashes become `-` (§8.1), but whitespace inside a token,
a BOM or another invisible character, or non-ASCII text is refused rather than silently
removed — it means a broken paste (two tokens on one line, a file saved with a BOM)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from addons.errors import validation
from state.account import POOLS
from state.importing import check_token, pool_alias

__all__ = [
    "DEFAULT_PAGE_SIZE", "MAX_CONCURRENCY", "MAX_PAGE_SIZE", "MAX_TAG_LEN", "admin_token",
    "body_bool", "body_object", "parse_pool", "parse_tags", "query_bool", "query_int",
    "token_list",
]

#: Largest `page_size` of the token listing (seed 004 allows up to 2000).
MAX_PAGE_SIZE = 2000
DEFAULT_PAGE_SIZE = 50
MAX_CONCURRENCY = 100
MAX_TAG_LEN = 64
MAX_TOKENS = 100_000

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASH_MAP = {ord(c): "-" for c in _DASHES}
_INVISIBLE = re.compile("[\u00a0\u00ad\u2007\u200b-\u200f\u202f\u2060\ufeff]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def admin_token(raw: Any, param: str = "token") -> str:
    """One token from an admin request → the stored form; 400 if it is not a usable token."""
    if not isinstance(raw, str):
        raise validation(f"{param}: expected a token string", param)
    text = raw.translate(_DASH_MAP).strip(" \t\r\n")
    if text[:4].lower() == "sso=":
        text = text[4:].strip(" \t\r\n")
    if not text:
        raise validation(f"{param}: the token is empty", param)
    if "\ufeff" in text:
        raise validation(f"{param}: the token contains a byte order mark (BOM)", param)
    if _INVISIBLE.search(text):
        raise validation(f"{param}: the token contains an invisible character "
                         "(zero-width or no-break space)", param)
    if re.search(r"\s", text):
        raise validation(f"{param}: the token contains whitespace (one token per item)", param)
    if not text.isascii():
        raise validation(f"{param}: the token contains non-ASCII characters", param)
    try:
        return check_token(text)
    except ValueError as exc:
        raise validation(f"{param}: {exc}", param) from None


def token_list(raw: Any, param: str = "tokens", *, allow_empty: bool = False) -> list[str]:
    """A JSON list of tokens → clean, de-duplicated, in order; one bad item fails the whole."""
    if raw is None and allow_empty:
        return []
    if not isinstance(raw, list):
        raise validation(f"{param}: expected a list of tokens", param)
    if not raw and not allow_empty:
        raise validation(f"{param}: the list is empty", param)
    if len(raw) > MAX_TOKENS:
        raise validation(f"{param}: more than {MAX_TOKENS} tokens in one request", param)
    return list(dict.fromkeys(admin_token(item, f"{param}[{i}]") for i, item in enumerate(raw)))


def parse_pool(raw: Any, param: str = "pool", *, allow_auto: bool = False) -> str | None:
    """basic | super | heavy (import aliases accepted); None for `auto` when allowed."""
    if not isinstance(raw, str):
        raise validation(f"{param}: expected one of {', '.join(POOLS)}", param)
    try:
        pool = pool_alias(raw)
    except KeyError:
        pool = "?"
    if pool is None and allow_auto:
        return None
    if pool not in POOLS:
        choices = ", ".join([*POOLS, *(["auto"] if allow_auto else [])])
        raise validation(f"{param}: unknown pool {raw!r} (use {choices})", param, "unknown_pool")
    return pool


def parse_tags(raw: Any, param: str = "tags") -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation(f"{param}: expected a list of strings", param)
    tags: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip():
            raise validation(f"{param}[{i}]: expected a non-empty string", param)
        tag = item.strip()
        if len(tag) > MAX_TAG_LEN or re.search(r"\s", tag):
            raise validation(f"{param}[{i}]: a tag is one word of at most {MAX_TAG_LEN} "
                             "characters", param)
        tags.append(tag)
    return list(dict.fromkeys(tags))


def query_int(args: Mapping[str, str], name: str, default: int, *, low: int = 1,
              high: int | None = None) -> int:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise validation(f"{name}: expected an integer, got {raw!r}", name) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise validation(f"{name}: must be {bound}, got {value}", name)
    return value


def query_bool(args: Mapping[str, str], name: str, default: bool) -> bool:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise validation(f"{name}: expected true or false, got {raw!r}", name)


def body_bool(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise validation(f"{name}: expected true or false", name)
    return value


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation("Request body must be a JSON object")
    return body
