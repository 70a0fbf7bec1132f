"""Retry and failover: classify an upstream failure, feed it back to the pool, decide a retry.

Runs in `responseheaders`, which the pipeline also calls for an in-band error that arrives
before the first content byte. After the first byte the pipeline never asks for a retry.
"""
from __future__ import annotations

import random
from typing import Any

from addons.errors import upstream_error
from addons.flow import Flow
from addons.upstream.classify import invalid_credentials_marker

NAME = "retry"


def parse_codes(value: Any) -> frozenset[int]:
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return frozenset(int(str(x).strip()) for x in items if str(x).strip().isdigit())


class Retry:
    def __init__(self, pool: Any, settings: Any) -> None:
        self.pool = pool
        self.settings = settings
        self.refresher: Any | None = None

    def bind_refresher(self, refresher: Any | None) -> None:
        """The `QuotaRefresher`: a chat 429 starts a throttled on-demand refresh."""
        self.refresher = refresher

    def _on_codes(self) -> frozenset[int]:
        raw = self.settings.get("retry.on_codes") or self.settings.get("retry.retry_status_codes")
        return parse_codes(raw)

    def responseheaders(self, flow: Flow) -> None:
        failure = flow.failure
        if failure is None:
            return
        state = flow.metadata.setdefault(NAME, {"counted": 0})
        status = failure.status
        lease = flow.lease
        marker = invalid_credentials_marker(failure.body) if status in (400, 401, 403) else None
        free_switch = False
        if marker and lease is not None:
            self.pool.on_invalid_credentials(lease.token, marker)
            free_switch = True  # D-5: does not count against retry.max_retries
        elif lease is not None:
            if status == 401:
                self.pool.on_unauthorized(lease.token)
            elif status == 429:
                self.pool.on_rate_limited(lease)
                if self.refresher is not None:
                    self.refresher.trigger_on_demand()
            elif status >= 500:
                self.pool.on_failure(lease, f"upstream {status}")
        error = upstream_error(status, failure.message)
        flow.metadata["last_error"] = error
        flow.error = error
        if not free_switch:
            if status not in self._on_codes():
                return
            if state["counted"] >= self.settings.int("retry.max_retries"):
                return
            state["counted"] += 1
        flow.retry = True
        flow.error = None
        base = self.settings.int("retry.backoff_base_ms") / 1000
        cap = self.settings.int("retry.backoff_max_ms") / 1000
        delay = min(cap, base * (2 ** (flow.attempt - 1)))
        flow.metadata["retry_delay"] = delay * random.uniform(0.5, 1.0) if delay > 0 else 0.0
