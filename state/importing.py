"""Parsing account imports: a text file (one token per line) or a JSON export by pool.

Pure: no database, no pool. Every valid token is kept; every problem is reported with the
line it is on (JSON items: the line where the token text appears, else 0).

What a paste or a file from another system adds around a token is cleaned off before it is
validated (`clean_line`): a byte order mark, zero-width and no-break spaces, Windows line
ends, surrounding quotes, an `sso=` prefix or a whole cookie string. What cannot be a token
(two words on one line, letters outside ASCII) is reported, never silently altered."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from state.account import TOKEN_TRANSLATION, normalize_token
from state.models import TOKEN_MAX_LEN

__all__ = ["ImportItem", "ImportResult", "check_token", "clean_line", "decode_import",
           "parse_import", "pool_alias"]

#: Characters an SSO token (a JWT) may hold after normalisation.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._\-+/=~%]+$")
#: Opening quote → closing quote, for tokens pasted from code, JSON or a chat message.
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u201d": "\u201d",
           "\u2018": "\u2019", "\u2019": "\u2019", "\u201e": "\u201c", "\u00ab": "\u00bb"}
#: Byte order marks of the text encodings a Windows editor saves in.
_BOMS = (("\ufeff".encode("utf-8"), "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
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


def decode_import(data: bytes) -> str:
    """An import file's bytes → text: UTF-8 (with or without a BOM), or UTF-16 with its BOM
    (what Windows Notepad calls "Unicode"). ValueError for anything else."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 or UTF-16 text (byte {exc.start} cannot be read): "
                         "save the file as UTF-8") from None


def _unquote(text: str) -> str:
    """`"tok"`, `'tok'`, `“tok”` → `tok` (inner whitespace kept, to be reported)."""
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text


def clean_line(line: str) -> str:
    """The token part of one pasted line or list item: invisible characters (BOM, zero-width
    and no-break spaces), surrounding whitespace with a Windows `\r`, quotes and an `sso=`
    prefix dropped; from a cookie string (`a=1; sso=…; b=2`) the `sso` pair is picked.
    ValueError when what remains cannot be one token: whitespace inside (two tokens on a
    line) or non-ASCII letters (a broken paste, not to be imported minus its letters)."""
    text = _unquote(line.translate(TOKEN_TRANSLATION).strip())
    if ";" in text:
        pairs = [p.strip() for p in text.split(";") if p.strip()]
        sso = [p for p in pairs if p[:4].lower() == "sso="]
        if sso:
            text = sso[0]
    if text[:4].lower() == "sso=":
        text = _unquote(text[4:].strip())
    if not text:
        raise ValueError("the token is empty")
    if re.search(r"\s", text):
        raise ValueError("whitespace inside the token (one token per line)")
    if not text.isascii():
        raise ValueError("non-ASCII characters in the token")
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
    """Text (one token per line, `#` comments) or JSON (by pool, or a list); `splitlines`
    takes Windows and old Mac line ends alike."""
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith(("{", "[")):
        return _parse_json(text)
    out = _Collector()
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.translate(TOKEN_TRANSLATION).strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = clean_line(stripped)
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
