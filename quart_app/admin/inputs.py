"""Validation of admin input. Pure: every function returns clean values or raises a 400
(`validation_error`) that says what is wrong, before anything is changed.

Tokens typed or pasted by an operator are cleaned as the CLI import cleans a line
(`state.importing.clean_line`): a BOM, zero-width and no-break spaces, a Windows `\r`,
surrounding quotes and an `sso=` prefix are dropped and Unicode dashes become `-`. What
cannot be one token (whitespace inside: two tokens in one item; non-ASCII letters) is
refused, never silently altered. `token_items` sorts a list into the good tokens and the
refused items, so that one bad item does not cost the good ones."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from addons.errors import validation
from state.account import POOLS
from state.importing import check_token, clean_line, pool_alias

__all__ = [
    "DEFAULT_PAGE_SIZE", "MAX_CONCURRENCY", "MAX_PAGE_SIZE", "MAX_TAG_LEN", "TokenProblem",
    "admin_token", "body_bool", "body_object", "parse_pool", "parse_tags", "query_bool",
    "query_int", "token_items", "token_list",
]

#: Largest `page_size` of the token listing.
MAX_PAGE_SIZE = 2000
DEFAULT_PAGE_SIZE = 50
MAX_CONCURRENCY = 100
MAX_TAG_LEN = 64
MAX_TOKENS = 100_000
#: Largest integer a query parameter takes (a page number echoed back must fit JSON).
MAX_QUERY_INT = (1 << 31) - 1

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _clean(raw: Any, param: str) -> str:
    """One token → the stored form; ValueError with `param` and the reason."""
    if not isinstance(raw, str):
        raise ValueError(f"{param}: expected a token string")
    try:
        return check_token(clean_line(raw))
    except ValueError as exc:
        reason = str(exc).replace("one token per line", "one token per item")
        raise ValueError(f"{param}: {reason}") from None


def admin_token(raw: Any, param: str = "token") -> str:
    """One token from an admin request → the stored form; 400 if it is not a usable token."""
    try:
        return _clean(raw, param)
    except ValueError as exc:
        raise validation(str(exc), param) from None


class TokenProblem(NamedTuple):
    """An item of a token list that was refused: where it is and why (never its text)."""

    index: int
    param: str
    message: str


def _check_list(raw: Any, param: str, allow_empty: bool) -> list[Any]:
    if raw is None and allow_empty:
        return []
    if not isinstance(raw, list):
        raise validation(f"{param}: expected a list of tokens", param)
    if not raw and not allow_empty:
        raise validation(f"{param}: the list is empty", param)
    if len(raw) > MAX_TOKENS:
        raise validation(f"{param}: more than {MAX_TOKENS} tokens in one request", param)
    return raw


def token_items(raw: Any, param: str = "tokens") -> tuple[list[str], list[TokenProblem]]:
    """A JSON list of tokens → (clean, de-duplicated tokens in order; the refused items).
    The list itself must be a non-empty list (400 otherwise); its items are judged one by
    one, so a bad item is reported without refusing the good ones."""
    good: dict[str, None] = {}
    problems: list[TokenProblem] = []
    for i, item in enumerate(_check_list(raw, param, False)):
        where = f"{param}[{i}]"
        try:
            good[_clean(item, where)] = None
        except ValueError as exc:
            problems.append(TokenProblem(i, where, str(exc)))
    return list(good), problems


def token_list(raw: Any, param: str = "tokens", *, allow_empty: bool = False) -> list[str]:
    """A JSON list of tokens → clean, de-duplicated, in order; one bad item fails the whole
    (for operations on accounts that must exist: delete, disable, batches, pool replace)."""
    items = _check_list(raw, param, allow_empty)
    return list(dict.fromkeys(admin_token(item, f"{param}[{i}]") for i, item in enumerate(items)))


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
    high = MAX_QUERY_INT if high is None else high  # a larger one cannot be written back
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
