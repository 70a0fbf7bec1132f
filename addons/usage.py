"""Token usage: estimates the flow's token usage from the try that answered (`flow.usage`),
which the dialects report and the request recorder (`addons/audit.py`) accounts.

Per-account use counts are kept by the pool's success/failure feedback.
"""
from __future__ import annotations

from addons.events import Event, ReasoningDelta, TextDelta
from addons.flow import Flow
from addons.services.token_estimate import estimate_tokens

PROMPT_OVERHEAD = 4


class UsageTally:
    """One try's answer and reasoning text; its flush sets `flow.usage`."""

    __slots__ = ("flow", "text", "reasoning")

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.text: list[str] = []
        self.reasoning: list[str] = []

    def chunk(self, event: Event) -> list[Event]:
        cls = type(event)
        if cls is TextDelta:
            self.text.append(event.text)
        elif cls is ReasoningDelta:
            self.reasoning.append(event.text)
        return [event]

    def flush(self) -> list[Event]:
        usage = self.flow.usage
        usage.prompt_tokens = estimate_tokens(self.flow.prompt) + PROMPT_OVERHEAD
        usage.reasoning_tokens = estimate_tokens("".join(self.reasoning))
        usage.completion_tokens = estimate_tokens("".join(self.text)) + usage.reasoning_tokens
        return []


class UsageCounter:
    def transform(self, flow: Flow) -> UsageTally:
        return UsageTally(flow)
