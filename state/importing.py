"""Parsing account imports: a text file (one token per line) or a JSON export by pool.

Pure: no database, no pool. Every valid token is kept; every problem is reported with the
line it is on (JSON items: the line where the token text appears, else 0)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from state.account import TOKEN_TRANSLATION, normalize_token
from state.models import TOKEN_MAX_LEN

__all__ = ["ImportItem", "ImportResult", "check_token", "parse_import", "pool_alias"]

#: Characters an SSO token (a JWT) may hold after normalisation.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._\-+/=~%]+$")
_POOL_ALIASES = {
    "basic": "basic", "ssobasic": "basic", "sso": "basic", "normal": "basic",
    "super": "super", "ssosuper": "super", "supersso": "super",
    "heavy": "heavy", "ssoheavy": "heavy",
    "auto": None, "": None,
}


class ImportItem(NamedTuple):
    token: str
    pool: str | None  # None: not said (auto → stored as basic)
    tags: list[str]


@dataclass(slots=True)
class ImportResult:
    tokens: list[ImportItem] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0


def pool_alias(name: str) -> str | None:
    """Pool name as written in imports → basic | super | heavy | None (auto); KeyError if unknown."""
    return _POOL_ALIASES[name.strip().lower()]


def check_token(raw: str) -> str:
    """Normalise and validate one token; ValueError with a readable reason."""
    try:
        token = normalize_token(raw)
    except ValueError:
        raise ValueError("no token left after normalisation (empty or non-ASCII only)") from None
    if len(token) > TOKEN_MAX_LEN:
        raise ValueError(f"token longer than {TOKEN_MAX_LEN} characters")
    if not _TOKEN_RE.match(token):
        bad = sorted({c for c in token if not _TOKEN_RE.match(c)})
        raise ValueError(f"unexpected character(s) {''.join(bad)!r} in token")
    return token


def _line_token(line: str) -> str:
    """The token part of one text line: `sso=…` cookie pairs are picked out of a cookie
    string; whitespace inside what remains means two things on one line (an error)."""
    text = line.translate(TOKEN_TRANSLATION).strip()  # NBSP, zero-width and BOM dropped
    if ";" in text:
        pairs = [p.strip() for p in text.split(";") if p.strip()]
        sso = [p for p in pairs if p[:4].lower() == "sso="]
        if sso:
            text = sso[0]
    if text[:4].lower() == "sso=":
        text = text[4:].strip()
    if re.search(r"\s", text):
        raise ValueError("whitespace inside the token (one token per line)")
    return text


class _Collector:
    def __init__(self) -> None:
        self.result = ImportResult()
        self._seen: dict[str, int] = {}

    def add(self, raw: str, pool: str | None, tags: list[str], line_no: int) -> None:
        try:
            token = check_token(raw)
        except ValueError as exc:
            self.result.errors.append((line_no, str(exc)))
            return
        if token in self._seen:
            self.result.duplicates += 1
            prev = self.result.tokens[self._seen[token]]
            merged = list(dict.fromkeys([*prev.tags, *tags]))
            self.result.tokens[self._seen[token]] = prev._replace(tags=merged)
            return
        self._seen[token] = len(self.result.tokens)
        self.result.tokens.append(ImportItem(token, pool, list(dict.fromkeys(tags))))


def parse_import(text: str) -> ImportResult:
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith(("{", "[")):
        return _parse_json(text)
    out = _Collector()
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = _line_token(stripped)
        except ValueError as exc:
            out.result.errors.append((line_no, str(exc)))
            continue
        out.add(raw, None, [], line_no)
    return out.result


def _line_of(text: str, needle: str) -> int:
    pos = text.find(needle) if needle else -1
    return 0 if pos < 0 else text.count("\n", 0, pos) + 1


def _parse_json(text: str) -> ImportResult:
    out = _Collector()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        out.result.errors.append((getattr(exc, "lineno", 0) or 0, f"invalid JSON: {exc.msg}"))
        return out.result
    groups: list[tuple[str | None, Any, str]] = []
    if isinstance(data, list):
        groups.append((None, data, "[]"))
    elif isinstance(data, dict):
        for name, items in data.items():
            try:
                groups.append((pool_alias(str(name)), items, str(name)))
            except KeyError:
                out.result.errors.append((_line_of(text, f'"{name}"'), f"unknown pool {name!r}"))
    else:
        out.result.errors.append((1, "JSON must be an object by pool or a list of tokens"))
    for pool, items, label in groups:
        if not isinstance(items, list):
            out.result.errors.append((_line_of(text, f'"{label}"'), f"{label}: expected a list"))
            continue
        for index, item in enumerate(items):
            raw, tags = _json_item(item)
            if raw is None:
                message = (f"{label}[{index}]: expected a token string or "
                           "an object with a \"token\" field")
                out.result.errors.append((0, message))
                continue
            out.add(raw, pool, tags, _line_of(text, raw))
    return out.result


def _json_item(item: Any) -> tuple[str | None, list[str]]:
    if isinstance(item, str):
        return item, []
    if isinstance(item, dict) and isinstance(item.get("token"), str):
        tags = item.get("tags")
        return item["token"], [str(t) for t in tags] if isinstance(tags, list) else []
    return None, []
