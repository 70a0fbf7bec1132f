"""Account selection: one lease per attempt, released on the next attempt and at the end.

The lease respects the per-account in-flight cap, the model's pool order, and never hands the
same request an account it already tried. Success feedback is applied on `response`.
"""
from __future__ import annotations

from typing import Any

from addons.catalog import Catalogue
from addons.errors import no_account
from addons.flow import Flow

#: Most accounts one request may touch, whatever the reason for switching (D-5).
MAX_ACCOUNTS_PER_REQUEST = 10

AUTO_FALLBACK = ("fast", "expert")


class AccountSelector:
    def __init__(self, pool: Any, settings: Any) -> None:
        self.pool = pool
        self.settings = settings

    def _modes(self, flow: Flow) -> tuple[str, ...]:
        mode = flow.model.mode
        if mode == "auto" and flow.model.capability == "chat" and self.settings.bool(
            "features.auto_chat_mode_fallback"
        ):
            return (mode, *AUTO_FALLBACK)
        return (mode,)

    def attempt(self, flow: Flow) -> None:
        self._release(flow)
        last_error = flow.metadata.get("last_error")
        if len(flow.tried) >= MAX_ACCOUNTS_PER_REQUEST:
            raise last_error or no_account(flow.model.id)
        max_inflight = self.settings.int("account.selection.max_inflight")
        for mode in self._modes(flow):
            pools = Catalogue.usable_pools(flow.model, mode)
            lease = self.pool.select(pools, mode, exclude=flow.tried, max_inflight=max_inflight)
            if lease is not None:
                flow.lease = lease
                flow.mode = mode
                flow.tried.append(lease.token)
                return
        raise last_error or no_account(flow.model.id)

    def response(self, flow: Flow) -> None:
        if flow.lease is not None:
            self.pool.on_success(flow.lease)

    def finish(self, flow: Flow) -> None:
        self._release(flow)

    def _release(self, flow: Flow) -> None:
        if flow.lease is not None:
            self.pool.release(flow.lease)
