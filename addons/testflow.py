"""Test flows, as mitmproxy's `tflow()`: a Flow with a parsed job, ready for a hook to be called
on it directly, and a helper that runs a flow through a pipeline the way a dialect does.

    flow = tflow("hello", tools=[ToolSpec("get_weather")])
    events = await run_flow(Pipeline(chain, MockTransport.script(MockResponse.text("hi")), s), flow)
"""
from __future__ import annotations

from typing import Any, Mapping

from addons.events import Event, TextDelta
from addons.flow import Flow
from addons.jobs import ChatRequest, Message


def tflow(text: str = "hi", *, model: str = "grok-4.20-fast", stream: bool = True,
          messages: list[Message] | None = None, headers: Mapping[str, str] | None = None,
          dialect: str = "openai.chat", **chat: Any) -> Flow:
    """A flow whose chat job is one user message `text` (or `messages`); `chat` sets any other
    `ChatRequest` field (tools, stop, store, previous_response_id, …)."""
    job = ChatRequest(model=model, messages=messages or [Message("user", [text])], stream=stream,
                      **chat)
    return Flow(request=job, client_headers=dict(headers or {}), dialect=dialect)


async def run_flow(pipeline: Any, flow: Flow, parse: Any = None) -> list[Event]:
    """Opens the flow, reads every batch and closes it, as a dialect does; the events in order."""
    await pipeline.open(flow, parse)
    out: list[Event] = []
    try:
        async for batch in pipeline.events(flow):
            out.extend(batch)
    finally:
        await pipeline.close(flow)
    return out


def text_of(events: list[Event]) -> str:
    """The answer text of a list of events."""
    return "".join(e.text for e in events if type(e) is TextDelta)
