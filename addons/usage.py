"""Usage accounting: estimates the flow's token usage and records it per model (written behind).

Per-account use counts are kept by the pool's success/failure feedback.
"""
from __future__ import annotations

from typing import Any

from addons.events import Event, ReasoningDelta, TextDelta
from addons.flow import Flow
from addons.services.token_estimate import estimate_tokens

NAME = "usage"
PROMPT_OVERHEAD = 4


class UsageCounter:
    def __init__(self, ledger: Any | None) -> None:
        self.ledger = ledger

    def chunk(self, flow: Flow, event: Event) -> list[Event]:
        cls = type(event)
        if cls is TextDelta or cls is ReasoningDelta:
            parts = flow.metadata.get(NAME)
            if parts is None:
                parts = flow.metadata[NAME] = ([], [])
            parts[cls is ReasoningDelta].append(event.text)
        return [event]

    def flush(self, flow: Flow) -> list[Event]:
        text, reasoning = flow.metadata.get(NAME) or ([], [])
        usage = flow.usage
        usage.prompt_tokens = estimate_tokens(flow.prompt) + PROMPT_OVERHEAD
        usage.reasoning_tokens = estimate_tokens("".join(reasoning))
        usage.completion_tokens = estimate_tokens("".join(text)) + usage.reasoning_tokens
        return []

    def finish(self, flow: Flow) -> None:
        if self.ledger is None or flow.model is None or flow.lease is None:
            return
        ok = flow.error is None
        self.ledger.record(flow.model.id, ok, flow.usage.prompt_tokens, flow.usage.completion_tokens)
