"""Declarative request validation shared by the dialects.

Each route declares its body as msgspec `Struct`s (`chat_model.py`, `responses_model.py`,
`anthropic_model.py`); `decode` turns the raw body into that model in one pass, checking
every declared field's type and range, and turns msgspec's complaint into a 400 that names
the field's dotted path (`messages.0.content.1.type`), the way the dialect parsers always
did. The same models produce the JSON Schema of `/openapi.json`.

Unknown fields are skipped (clients send many optional fields the gateway ignores). Free-form
JSON the gateway keeps and re-encodes later (tool schemas, tool-call arguments, metadata) is
checked by `check_json`: nesting deeper than MAX_JSON_DEPTH and integers JSON encoders cannot
write are refused up front, so they cannot crash the request later.
"""
from __future__ import annotations

import re
import threading
from typing import Annotated, Any, Callable, Literal, Sequence, TypeVar

import msgspec
import orjson

from addons.errors import ApiError, validation

T = TypeVar("T")

#: Deepest nesting accepted inside free-form JSON (a tool's parameter schema, arguments,
#: metadata). Real tool schemas stay far below it; the JSON encoders give up at 255.
MAX_JSON_DEPTH = 64
#: The integers a JSON encoder can write back (signed 64-bit up to unsigned 64-bit).
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1
INT32_MAX = (1 << 31) - 1

NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]
#: A string with at least one non-space character (a model name, an id).
Text = Annotated[str, msgspec.Meta(pattern=r"\S")]
#: Free-form JSON object (checked with `check_json` before use).
JsonObject = dict[str, Any]
#: A reasoning effort; any but `none` turns reasoning on (grok.com has no finer knob).
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


def number(low: float, high: float) -> Any:
    """A JSON number between `low` and `high` (inclusive)."""
    return Annotated[float, msgspec.Meta(ge=low, le=high)]


def integer(low: int, high: int = INT32_MAX) -> Any:
    """A JSON integer between `low` and `high` (inclusive)."""
    return Annotated[int, msgspec.Meta(ge=low, le=high)]


_TYPE_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
               "object": "an object", "array": "an array", "null": "null"}
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def _words(reason: str) -> str:
    """msgspec's `Expected `int` <= 128` as `expected an integer <= 128`."""
    def word(match: re.Match) -> str:
        return " or ".join(_TYPE_WORDS.get(p.strip(), p.strip()) for p in match[1].split("|"))
    reason = re.sub(r"`([^`]+)`", word, reason)
    return reason[:1].lower() + reason[1:]


def join(prefix: str | None, tail: str | None) -> str | None:
    """Two dotted paths as one."""
    if not prefix:
        return tail or None
    return f"{prefix}.{tail}" if tail else prefix


def param_of(path: str) -> str | None:
    """`.messages[0].role` → `messages.0.role`; None for the body itself."""
    steps = [name or index or "*" for name, index, _ in _PATH_STEP.findall(path)]
    return ".".join(steps) or None


def validation_error(exc: msgspec.ValidationError, prefix: str | None = None) -> ApiError:
    """msgspec's error as the gateway's 400, its `param` the dotted path of the field."""
    match = _AT.match(str(exc))
    reason, param = match["reason"], param_of(match["path"] or "")
    missing = _MISSING.match(reason)
    if missing:
        param = join(prefix, join(param, missing["field"]))
        return validation(f"'{param}' is required", param)
    param = join(prefix, param)
    if param is None:
        return validation(f"Request body must be a JSON object ({_words(reason)})")
    return validation(f"'{param}': {_words(reason)}", param)


def decode(body: Any, model: type[T], prefix: str | None = None,
           errors: Callable[[ApiError], ApiError] | None = None) -> T:
    """`body` (raw JSON bytes, or JSON already decoded) as `model`; a 400 naming the field
    otherwise. `prefix` is the dotted path of `body` inside the request; `errors` lets a
    dialect restate an error in its own terms."""
    try:
        if isinstance(body, (bytes, bytearray, memoryview)):
            return msgspec.json.decode(body, type=model)
        return msgspec.convert(body, model)
    except msgspec.ValidationError as exc:
        err = validation_error(exc, prefix)
    except msgspec.DecodeError as exc:
        err = validation(f"Request body is not valid JSON: {exc}")
    except RecursionError:
        err = validation("Request body is nested too deeply", prefix)
    raise errors(err) if errors is not None else err


def decode_each(items: Sequence[Any], model: type[T], param: Callable[[int], str]) -> list[T]:
    """Each of `items` (decoded JSON objects) as `model`, in one pass; the error of a bad one
    names it with `param(i)`."""
    try:
        return msgspec.convert(items, list[model])
    except (msgspec.ValidationError, RecursionError):
        return [decode(item, model, param(i)) for i, item in enumerate(items)]


def check_json(value: Any, param: str) -> Any:
    """`value` itself, once it is known to nest at most MAX_JSON_DEPTH levels and to hold only
    integers a JSON encoder can write; a 400 naming `param` otherwise."""
    problem = _json_problem(value)
    if problem:
        raise validation(f"'{param}' {problem}", param)
    return value


def check_json_each(values: Sequence[Any], param: Callable[[int], str]) -> None:
    """`check_json` for many values at once (one encoder pass); `param(i)` names the i-th."""
    if values and _json_problem(values, extra=1):
        for i, value in enumerate(values):
            check_json(value, param(i))


def _json_problem(value: Any, extra: int = 0) -> str | None:
    """Why `value` (nested `extra` levels deeper than its own) cannot be kept, or None.

    orjson does the walk, in C: `value` is encoded inside ENCODER_DEPTH - MAX_JSON_DEPTH levels
    of lists, so the encoder's own depth limit fires exactly when `value` is deeper than
    MAX_JSON_DEPTH; it also refuses integers beyond 64 bits."""
    if value is None or isinstance(value, (str, bool, float)):
        return None
    slot = _probe_slot()
    slot[0] = value
    try:
        orjson.dumps(_probe.outers[extra])
    except orjson.JSONEncodeError as exc:
        if "ecursion" in str(exc):
            return f"is nested deeper than {MAX_JSON_DEPTH} levels"
        if "Integer" in str(exc):
            return "holds an integer too large for JSON (more than 64 bits)"
        return f"cannot be written back as JSON ({exc})"
    finally:
        slot[0] = None
    return None


#: orjson refuses to encode more than this many nested containers.
ENCODER_DEPTH = 254
_probe = threading.local()


def _probe_slot() -> list:
    """This thread's innermost list of the probe, made on first use."""
    slot = getattr(_probe, "slot", None)
    if slot is None:
        slot = outer = [None]
        for _ in range(ENCODER_DEPTH - MAX_JSON_DEPTH - 2):
            outer = [outer]
        # outers[n]: the probe for a value whose own nesting starts n levels down
        _probe.slot, _probe.outers = slot, ([outer], outer)
    return slot
