"""The console's chat models (console-and-voice §3.4): what each upstream model does with a
reasoning effort, and the normalisation of an effort a client sent (§3.3 step 6)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConsoleModel:
    upstream: str
    #: effort | fixed (the effort is stripped, other reasoning keys stay) | none
    reasoning: str
    default_effort: str | None
    efforts: tuple[str, ...]
    max_output: int = 1_000_000


MODELS: dict[str, ConsoleModel] = {m.upstream: m for m in (
    ConsoleModel("grok-4.3", "effort", "medium", ("none", "low", "medium", "high")),
    ConsoleModel("grok-4.5", "effort", "medium", ("low", "medium", "high")),
    ConsoleModel("grok-4.20-0309-reasoning", "fixed", None, ()),
    ConsoleModel("grok-4.20-0309-non-reasoning", "none", None, ("none",)),
    ConsoleModel("grok-4.20-multi-agent-0309", "effort", None, ("low", "medium", "high", "xhigh")),
    ConsoleModel("grok-build-0.1", "none", None, ("none",), 256_000),
)}

_EFFORTS = {"none": "none", "minimal": "low", "low": "low", "medium": "medium", "high": "high",
            "xhigh": "xhigh", "max": "xhigh"}


def normalise_effort(model: ConsoleModel, effort: str | None) -> str | None:
    """The effort sent upstream for an effort-capable model: the client's, mapped; else the
    model's default; None leaves the key out (the upstream default)."""
    mapped = _EFFORTS.get((effort or "").lower())
    return mapped if mapped is not None else model.default_effort
