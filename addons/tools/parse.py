"""Parses the model's tool-call markup into calls.

Pure functions, no flow: the sieve calls `parse_tool_calls` on a captured block, and anything
else (tests, a non-stream fallback) may call it on a whole answer. Formats are tried in this
order: `<tool_call>` XML, JSON, `<function_call>` / `<invoke>`; the first that yields calls
wins. Arguments are repaired leniently (raw newlines inside strings, stray backslashes,
trailing commas, code fences, CDATA) because models write multi-line JSON for `write`-style
tools (chenyme/grok2api#557); a call whose arguments still do not parse, or whose name was
not declared, is dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Collection

import orjson

_FLAGS = re.IGNORECASE | re.DOTALL
_BLOCK_RE = re.compile(r"<tool_call(?:\s[^<>]*)?>(.*?)(?=</tool_call\s*>|<tool_call[\s>]|</tool_calls\s*>|$)", _FLAGS)
_NAME_RE = re.compile(r"<tool_name\s*>(.*?)</tool_name\s*>", _FLAGS)
_PARAMS_RE = re.compile(r"<parameters\s*>(.*?)(?:</parameters\s*>|$)", _FLAGS)
_FUNCTION_CALL_RE = re.compile(
    r"<function_call(?:\s[^<>]*)?>.*?<name\s*>(.*?)</name\s*>(?:.*?<arguments\s*>(.*?)(?:</arguments\s*>|$))?", _FLAGS)
_INVOKE_RE = re.compile(
    r"<invoke\s+name\s*=\s*[\"']([^\"']+)[\"'][^<>]*>(.*?)(?:</invoke\s*>|$)", _FLAGS)
_FENCE_RE = re.compile(r"^\s*```[\w+-]*[ \t]*\r?\n?(.*?)\n?[ \t]*(?:```\s*)?$", re.DOTALL)
_CDATA_RE = re.compile(r"^\s*<!\[CDATA\[(.*?)\]\]>\s*$", re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")
_ESCAPES = frozenset('"\\/bfnrtu')
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(slots=True, frozen=True)
class ParsedCall:
    """One call: a declared function name and its arguments as compact JSON object text."""

    name: str
    arguments: str


def _unwrap(text: str) -> str:
    """Strip whitespace, a CDATA section and a code fence around a JSON payload."""
    text = text.strip()
    m = _CDATA_RE.match(text)
    if m:
        text = m.group(1).strip()
    if text.startswith("```"):
        m = _FENCE_RE.match(text)
        if m:
            text = m.group(1).strip()
    return text


def _repair(text: str) -> str:
    """Escape raw control characters and invalid backslashes inside strings; drop trailing
    commas outside them. Never changes text that was valid JSON."""
    out: list[str] = []
    in_str = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt and nxt in _ESCAPES:
                    out.append(text[i:i + 2])
                    i += 2
                    continue
                out.append("\\\\")
            elif c == '"':
                in_str = False
                out.append(c)
            elif c in _CONTROL:
                out.append(_CONTROL[c])
            elif c < " ":
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
        else:
            if c == '"':
                in_str = True
            out.append(c)
        i += 1
    return _TRAILING_COMMA_RE.sub(r"\1", "".join(out))


def load_json(text: str) -> Any:
    """Strict JSON first, then the lenient repair; raises ValueError when neither parses."""
    text = _unwrap(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return orjson.loads(_repair(text))
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


def normalize_arguments(raw: Any) -> str | None:
    """Compact JSON object text for `raw` (text or an already decoded value); None if it is
    not a JSON object. Empty text means no arguments (`{}`)."""
    if isinstance(raw, str):
        if not raw.strip():
            return "{}"
        try:
            raw = load_json(raw)
        except ValueError:
            return None
        if isinstance(raw, str):  # double-encoded: "{\"a\":1}"
            return normalize_arguments(raw) if raw.strip().startswith("{") else None
    if raw is None:
        return "{}"
    if not isinstance(raw, dict):
        return None
    return orjson.dumps(raw).decode("utf-8")


def _call(name: Any, raw_args: Any, names: Collection[str]) -> ParsedCall | None:
    if not isinstance(name, str):
        return None
    name = name.strip()
    if name not in names:
        return None
    args = normalize_arguments(raw_args)
    return None if args is None else ParsedCall(name, args)


def _from_xml(text: str, names: Collection[str]) -> list[ParsedCall | None]:
    """Format 1 (`<tool_call><tool_name>…<parameters>…`) and format 5 (legacy JSON body)."""
    calls: list[ParsedCall | None] = []
    for m in _BLOCK_RE.finditer(text):
        body = m.group(1)
        name = _NAME_RE.search(body)
        if name is not None:
            params = _PARAMS_RE.search(body)
            calls.append(_call(name.group(1), params.group(1) if params else "", names))
            continue
        try:
            obj = load_json(body)
        except ValueError:
            continue
        if isinstance(obj, dict):
            calls.extend(_from_objects([obj], names))
    return calls


def _from_objects(items: list[Any], names: Collection[str]) -> list[ParsedCall | None]:
    """Objects shaped {name|tool_name, arguments|parameters|input} or OpenAI's
    {"function": {"name", "arguments"}}."""
    calls: list[ParsedCall | None] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        src = item.get("function") if isinstance(item.get("function"), dict) else item
        name = src.get("name", src.get("tool_name"))
        args = next((src[k] for k in ("arguments", "parameters", "input") if k in src), None)
        calls.append(_call(name, args, names))
    return calls


def _from_json(text: str, names: Collection[str]) -> list[ParsedCall | None]:
    """Formats 2 and 3: {"tool_calls": [...]}, a bare array, or one bare call object."""
    try:
        value = load_json(text)
    except ValueError:
        return []
    if isinstance(value, dict):
        if isinstance(value.get("tool_calls"), list):
            return _from_objects(value["tool_calls"], names)
        if ("name" in value or "tool_name" in value) and any(
                k in value for k in ("arguments", "parameters", "input")):
            return _from_objects([value], names)
        return []
    if isinstance(value, list):
        return _from_objects(value, names)
    return []


def _from_alt_xml(text: str, names: Collection[str]) -> list[ParsedCall | None]:
    """Format 4: `<function_call><name>…</name><arguments>…</arguments>` and `<invoke name=…>`."""
    calls = [_call(m.group(1), m.group(2) or "", names) for m in _FUNCTION_CALL_RE.finditer(text)]
    calls += [_call(m.group(1), m.group(2), names) for m in _INVOKE_RE.finditer(text)]
    return calls


def parse_tool_calls(text: str, names: Collection[str], *, parallel: bool = True) -> list[ParsedCall]:
    """The valid calls in `text`: declared names only (case-sensitive), arguments as compact
    JSON objects. `parallel=False` keeps only the first call. Empty when there is none."""
    if not names or not text:
        return []
    lowered = text.lower()
    attempts = []
    if "<tool_call" in lowered:
        attempts.append(_from_xml)
    stripped = _unwrap(text)
    if stripped[:1] in ("{", "["):
        attempts.append(_from_json)
    if "<function_call" in lowered or "<invoke" in lowered:
        attempts.append(_from_alt_xml)
    for parse in attempts:
        calls = [c for c in parse(text, names) if c is not None]
        if calls:
            return calls[:1] if not parallel else calls
    return []
