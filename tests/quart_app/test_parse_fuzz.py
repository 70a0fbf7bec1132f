"""Random JSON in any field of an otherwise valid body: every dialect parser either accepts
it or raises a 400 `ApiError` naming a parameter; nothing else escapes (no 500)."""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from addons.errors import ApiError
from addons.upstream.prompt import compact_json, flatten
from quart_app.dialects.anthropic_request import parse_messages_request
from quart_app.dialects.openai_chat_request import parse_chat_request
from quart_app.dialects.responses_request import parse_responses_request
from tests.quart_app.helpers import Settings

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12)

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
RESPONSES = {"model": "m", "input": [{"role": "user", "content": "hi"}],
             "tools": [{"type": "function", "name": "f"}]}
MESSAGES = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]}
FIELDS = {
    "chat": ["model", "messages", "stream", "stream_options", "reasoning_effort", "thinking",
             "temperature", "top_p", "tools", "tool_choice", "parallel_tool_calls", "stop",
             "max_tokens", "n", "seed", "messages.0", "messages.0.role", "messages.0.content",
             "messages.0.tool_calls", "tools.0.function", "tools.0.function.parameters"],
    "responses": ["model", "input", "instructions", "stream", "reasoning", "tools",
                  "tool_choice", "store", "previous_response_id", "metadata", "input.0",
                  "input.0.role", "input.0.content", "input.0.type", "tools.0.parameters"],
    "messages": ["model", "messages", "system", "stream", "thinking", "tools", "tool_choice",
                 "stop_sequences", "max_tokens", "messages.0.role", "messages.0.content",
                 "tools.0.input_schema", "tools.0.name"],
}
PARSERS = {"chat": (parse_chat_request, CHAT), "responses": (parse_responses_request, RESPONSES),
           "messages": (parse_messages_request, MESSAGES)}


def put(body: dict, path: str, value) -> dict:
    body = orjson.loads(orjson.dumps(body))
    *parents, last = path.split(".")
    node = body
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


@settings(max_examples=600, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(dialect=st.sampled_from(sorted(PARSERS)), data=st.data(), value=values)
def test_random_values_are_accepted_or_a_named_400(dialect, data, value):
    parse, base = PARSERS[dialect]
    path = data.draw(st.sampled_from(FIELDS[dialect]))
    body = put(base, path, value)
    raw = orjson.dumps(body, option=orjson.OPT_PASSTHROUGH_SUBCLASS) if all(
        abs(v) < 1 << 63 for v in _ints(body)) else None
    for payload in ([body] if raw is None else [body, raw]):
        try:
            parsed = parse(payload, Settings())
        except ApiError as err:
            assert err.status == 400 and err.message
            continue
        chat = getattr(parsed, "chat", parsed)
        flatten(chat.messages)  # the prompt can be built
        for tool in chat.tools:
            compact_json(tool.parameters)
        if hasattr(parsed, "echo"):
            orjson.dumps(parsed.echo)  # the response object can echo it


def _ints(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ints(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ints(item)
