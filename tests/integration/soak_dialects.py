"""What the fault soak sends in each dialect, and how it judges what came back.

An answer is judged strictly: either it is the exact text the simulator generated for the
request (nothing duplicated or missing after a failover) with the dialect's proper ending, or
it is a clean error in the dialect's envelope: a JSON error before the stream started, or,
once a stream started, an in-stream error followed by the dialect's proper end, with the text
sent so far a prefix of the expected one. Anything else (a malformed SSE line, JSON that does
not parse, a missing end, text after an error, an error status the gateway has no business
giving) raises `Malformed`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

#: The statuses an upstream failure, the breaker or an exhausted pool may give a client.
ERROR_STATUSES = frozenset({403, 429, 502, 503, 504})
#: Breaker refusals (a class of error grok.com has been giving) must say when to come back.
BREAKER_CODES = frozenset({"upstream_unavailable", "upstream_challenge", "upstream_throttled"})


class Malformed(Exception):
    """The answer is neither the expected text nor a clean error in its dialect."""


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str  # "answer" or "error"
    status: int  # HTTP status (200 for a stream that ended with an in-stream error)
    code: str | None = None  # the error's code
    text: str = ""  # the answer text the client received


# ---------------------------------------------------------------------------- SSE wire
def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    """Every event of a complete SSE body as (name, data); comments are dropped. Strict: the
    body must be UTF-8, end with a blank line, and hold only comment, `event:` and `data:`
    lines (what the gateway writes), each event with exactly one data line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"SSE body is not UTF-8: {exc}") from None
    if not text.endswith("\n\n"):
        raise Malformed(f"SSE body does not end with a blank line: {text[-80:]!r}")
    events: list[tuple[str, str]] = []
    for block in text[:-2].split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            if line.startswith("event: ") and name is None:
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            else:
                raise Malformed(f"malformed SSE line {line!r}")
        if len(data) > 1:
            raise Malformed(f"an event with {len(data)} data lines")
        if data:
            events.append((name or "message", data[0]))
        elif name is not None:
            raise Malformed(f"event {name!r} without data")
    return events


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise Malformed(f"data is not JSON: {data[:120]!r}") from None


def _check_error(err: Any, status: int | None = None) -> str | None:
    """An error object the dialects share: a message a person can read, a type, the status it
    was given with; never a page or a body grok.com wrote."""
    if not isinstance(err, dict) or not isinstance(err.get("message"), str) \
            or not err["message"] or not isinstance(err.get("type"), str):
        raise Malformed(f"not an error object: {err!r}")
    if status is not None and err.get("status", status) != status:
        raise Malformed(f"error says status {err.get('status')}, the response {status}")
    if "<" in err["message"]:
        raise Malformed(f"markup in an error message: {err['message']!r}")
    return err.get("code")


def _text_so_far(text: str, expected: str) -> None:
    if not expected.startswith(text):
        raise Malformed(f"text sent before the error is not a prefix of the answer: {text!r}")


def _answer(text: str, expected: str) -> Verdict:
    if text != expected:
        raise Malformed(f"wrong answer text {text!r}, expected {expected!r}")
    return Verdict("answer", 200, text=text)


def error_envelope(status: int, raw: bytes, anthropic: bool,
                   retry_after: str | None = None) -> Verdict:
    """A JSON error answered before any stream started."""
    if status not in ERROR_STATUSES:
        raise Malformed(f"unexpected status {status}: {raw[:200]!r}")
    body = _json(raw.decode("utf-8", "replace"))
    if not isinstance(body, dict):
        raise Malformed(f"error body is not an object: {body!r}")
    if anthropic and body.get("type") != "error":
        raise Malformed(f"Anthropic error without type=error: {body!r}")
    code = _check_error(body.get("error"), status)
    if code in BREAKER_CODES and not (retry_after and retry_after.isdigit()):
        raise Malformed(f"breaker refusal {code} without Retry-After")
    return Verdict("error", status, code)


# ---------------------------------------------------------------------------- OpenAI chat
def _chat_body(prompt: str, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": prompt}]}


def _chat_json(obj: Any, expected: str) -> Verdict:
    choice = obj["choices"][0]
    if obj.get("object") != "chat.completion" or choice.get("finish_reason") != "stop":
        raise Malformed(f"not a finished chat completion: {obj!r}")
    return _answer(choice["message"]["content"], expected)


def _chat_stream(events: list[tuple[str, str]], expected: str) -> Verdict:
    if not events or events[-1] != ("message", "[DONE]"):
        raise Malformed("chat stream does not end with [DONE]")
    text: list[str] = []
    finishes: list[str] = []
    error: Any = None
    for i, (name, data) in enumerate(events[:-1]):
        if data == "[DONE]":
            raise Malformed("[DONE] before the end")
        obj = _json(data)
        if name == "error":
            if i != len(events) - 2:
                raise Malformed("chat stream goes on after its error event")
            error = obj.get("error")
            continue
        if name != "message" or obj.get("object") != "chat.completion.chunk":
            raise Malformed(f"unexpected chat stream event {name!r}: {data[:120]!r}")
        for choice in obj["choices"]:
            text.append(choice["delta"].get("content") or "")
            if choice.get("finish_reason"):
                finishes.append(choice["finish_reason"])
    got = "".join(text)
    if error is not None:
        if finishes:
            raise Malformed(f"chat stream both finished ({finishes}) and failed")
        _text_so_far(got, expected)
        return Verdict("error", 200, _check_error(error), got)
    if finishes != ["stop"]:
        raise Malformed(f"chat stream finish reasons {finishes}")
    return _answer(got, expected)


# ---------------------------------------------------------------------------- Responses
def _responses_body(prompt: str, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "stream": stream, "input": prompt}


def _output_text(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")


def _responses_json(obj: Any, expected: str) -> Verdict:
    if obj.get("object") != "response" or obj.get("status") != "completed":
        raise Malformed(f"not a completed response: {obj!r}")
    return _answer(_output_text(obj), expected)


def _responses_stream(events: list[tuple[str, str]], expected: str) -> Verdict:
    if not events or events[-1] != ("message", "[DONE]"):
        raise Malformed("Responses stream does not end with [DONE]")
    names = [name for name, _ in events[:-1]]
    objs = [_json(data) for _, data in events[:-1]]
    for seq, (name, obj) in enumerate(zip(names, objs)):
        if obj.get("type") != name or obj.get("sequence_number") != seq:
            raise Malformed(f"Responses event {seq} is {name!r} with {str(obj)[:120]!r}")
    if names[:2] != ["response.created", "response.in_progress"]:
        raise Malformed(f"Responses stream starts with {names[:2]}")
    got = "".join(o["delta"] for n, o in zip(names, objs) if n == "response.output_text.delta")
    if names[-1] == "response.completed" and "response.failed" not in names:
        if _output_text(objs[-1]["response"]) != got:
            raise Malformed("response.completed disagrees with the streamed deltas")
        return _answer(got, expected)
    if names[-2:] != ["error", "response.failed"] or names.count("response.failed") != 1 \
            or "response.completed" in names:
        raise Malformed(f"Responses stream ends with {names[-3:]}")
    failed = objs[-1]["response"]
    if failed.get("status") != "failed" or not failed.get("error", {}).get("message"):
        raise Malformed(f"response.failed without an error: {failed!r}")
    _text_so_far(got, expected)
    return Verdict("error", 200, objs[-2].get("code"), got)


# ---------------------------------------------------------------------------- Anthropic
def _messages_body(prompt: str, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "stream": stream, "max_tokens": 1024,
            "messages": [{"role": "user", "content": prompt}]}


def _messages_json(obj: Any, expected: str) -> Verdict:
    if obj.get("type") != "message" or obj.get("stop_reason") != "end_turn":
        raise Malformed(f"not a finished message: {obj!r}")
    return _answer("".join(b["text"] for b in obj["content"] if b["type"] == "text"), expected)


def _messages_stream(events: list[tuple[str, str]], expected: str) -> Verdict:
    if not events or events[0][0] != "message_start":
        raise Malformed("Anthropic stream does not start with message_start")
    names = [name for name, _ in events]
    objs = [_json(data) for _, data in events]
    for name, obj in zip(names, objs):
        if obj.get("type") != name:
            raise Malformed(f"Anthropic event {name!r} carries type {obj.get('type')!r}")
    got = "".join(o["delta"]["text"] for n, o in zip(names, objs)
                  if n == "content_block_delta" and o["delta"]["type"] == "text_delta")
    if names[-1] == "message_stop":
        stops = [o["delta"].get("stop_reason") for n, o in zip(names, objs) if n == "message_delta"]
        if "error" in names or names.count("message_stop") != 1 or stops != ["end_turn"]:
            raise Malformed(f"Anthropic stream ended oddly: {names[-4:]}, stop reasons {stops}")
        return _answer(got, expected)
    if names[-1] != "error" or names.count("error") != 1 or "message_stop" in names:
        raise Malformed(f"Anthropic stream ends with {names[-3:]}")
    _text_so_far(got, expected)
    return Verdict("error", 200, _check_error(objs[-1]["error"]), got)


# ---------------------------------------------------------------------------- the table
MODEL = "grok-4.20-fast"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    path: str
    body: Callable[[str, bool], dict[str, Any]]
    judge_json: Callable[[Any, str], Verdict]
    judge_stream: Callable[[list[tuple[str, str]], str], Verdict]
    anthropic: bool = False

    def judge(self, status: int, raw: bytes, stream: bool, expected: str,
              retry_after: str | None = None) -> Verdict:
        """The verdict on a complete answer (`raw`: the whole body)."""
        if status != 200:
            return error_envelope(status, raw, self.anthropic, retry_after)
        try:
            if stream:
                return self.judge_stream(parse_sse(raw), expected)
            return self.judge_json(_json(raw.decode("utf-8", "replace")), expected)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise Malformed(f"{self.name} answer lacks {exc!r}: {raw[:200]!r}") from None


DIALECTS: tuple[Dialect, ...] = (
    Dialect("chat", "/v1/chat/completions", _chat_body, _chat_json, _chat_stream),
    Dialect("responses", "/v1/responses", _responses_body, _responses_json, _responses_stream),
    Dialect("messages", "/v1/messages", _messages_body, _messages_json, _messages_stream,
            anthropic=True),
)
