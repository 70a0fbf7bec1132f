"""Per-model daily usage counters, accumulated in memory and saved by the write-behind writer."""
from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["UsageKey", "UsageLedger", "utc_day"]

UsageKey = tuple[str, str]  # (model, YYYY-MM-DD in UTC)


def utc_day(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


class UsageLedger:
    """Increments per (model, UTC day): [requests, failures, prompt_tokens, completion_tokens]."""

    def __init__(self) -> None:
        self._pending: dict[UsageKey, list[int]] = {}
        #: Set by the writer: called after each record so a flush gets scheduled.
        self.on_change: Callable[[], None] | None = None

    def record(self, model: str, ok: bool, prompt_tokens: int, completion_tokens: int, *,
               now: float | None = None) -> None:
        row = self._pending.setdefault((model, utc_day(now)), [0, 0, 0, 0])
        row[0] += 1
        row[1] += 0 if ok else 1
        row[2] += max(0, int(prompt_tokens or 0))
        row[3] += max(0, int(completion_tokens or 0))
        if self.on_change is not None:
            self.on_change()

    def drain(self) -> dict[UsageKey, list[int]]:
        """Take every pending increment (the ledger is empty afterwards)."""
        pending, self._pending = self._pending, {}
        return pending

    def restore(self, items: dict[UsageKey, list[int]]) -> None:
        """Put back increments whose flush failed."""
        for key, values in items.items():
            row = self._pending.setdefault(key, [0, 0, 0, 0])
            for i, v in enumerate(values):
                row[i] += v

    def __len__(self) -> int:
        return len(self._pending)
