"""Account selection: one lease per attempt, released on the next attempt and at the end.

The lease respects the per-account in-flight cap, the model's pool order, and never hands the
same request an account it already tried. Success feedback is applied on `response`.

A request hook may pin the first attempt to one account by setting `flow.pinned_token` (the
continuation addon does, for the account that holds the upstream conversation). The pin is
tried first, with the usual checks, and only once; when it cannot be leased, selection goes
on as if there were no pin.

The strategy (quota scoring or uniform random) follows `account.refresh.enabled` at every
attempt, so switching it takes effect at once.

With a quota refresher bound (quota strategy), a success asks for a refresh of the used mode,
and when nothing is selectable one throttled on-demand refresh runs (waited for at most
`ON_DEMAND_WAIT_SEC`) and selection is tried once more before the 429.
"""
from __future__ import annotations

import asyncio
from typing import Any

from addons.services.catalogue import Catalogue
from addons.errors import no_account
from addons.flow import Flow
from state.options import Loader
from state.pool import QUOTA, RANDOM

#: Most accounts one request may touch, whatever the reason for switching.
MAX_ACCOUNTS_PER_REQUEST = 10

AUTO_FALLBACK = ("fast", "expert")


def strategy(settings: Any) -> str:
    """`account.refresh.enabled` true: quota strategy; false: random (switchable live)."""
    return QUOTA if settings.options.account.refresh.enabled else RANDOM

#: Longest a request waits for an on-demand refresh before giving up on an account.
ON_DEMAND_WAIT_SEC = 10.0
_ON_DEMAND_DONE = "accounts.on_demand"


class AccountSelector:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("account.selection.max_inflight", int, 8,
                          "Concurrent requests per account.")
        loader.add_option("features.auto_chat_mode_fallback", bool, True,
                          "A chat model in mode `auto` whose auto quota is exhausted falls back "
                          "to fast, then expert.")

    def __init__(self, pool: Any, settings: Any) -> None:
        self.pool = pool
        self.settings = settings
        self.refresher: Any | None = None

    def bind_refresher(self, refresher: Any | None) -> None:
        """The `QuotaRefresher` (built with the transport, after the chain)."""
        self.refresher = refresher

    def _modes(self, flow: Flow) -> tuple[str, ...]:
        mode = flow.model.mode
        if (mode == "auto" and flow.model.capability == "chat"
                and self.settings.options.features.auto_chat_mode_fallback):
            return (mode, *AUTO_FALLBACK)
        return (mode,)

    async def attempt(self, flow: Flow) -> None:
        self._release(flow)
        if len(flow.tried) >= MAX_ACCOUNTS_PER_REQUEST:
            raise flow.last_error or no_account(flow.model.id)
        pinned, flow.pinned_token = flow.pinned_token, None
        if self._select(flow, pinned):
            return
        if self.refresher is not None and not flow.metadata.get(_ON_DEMAND_DONE):
            flow.metadata[_ON_DEMAND_DONE] = True
            try:
                ran = await asyncio.wait_for(self.refresher.on_demand(), ON_DEMAND_WAIT_SEC)
            except TimeoutError:
                ran = True  # still running; whatever it refreshed so far may help
            if ran and self._select(flow, None):
                return
        raise flow.last_error or no_account(flow.model.id)

    def _select(self, flow: Flow, pinned: str | None) -> bool:
        max_inflight = self.settings.options.account.selection.max_inflight
        how = strategy(self.settings)
        for only in ((pinned, None) if pinned else (None,)):
            for mode in self._modes(flow):
                pools = Catalogue.usable_pools(flow.model, mode)
                lease = self.pool.select(pools, mode, exclude=flow.tried,
                                         max_inflight=max_inflight, only=only,
                                         strategy=how)
                if lease is not None:
                    flow.lease = lease
                    flow.attempt.mode = mode
                    flow.tried.append(lease.token)
                    return True
        return False

    def response(self, flow: Flow) -> None:
        if flow.lease is not None:
            self.pool.on_success(flow.lease)
            if self.refresher is not None:
                self.refresher.request_after_call(flow.lease.token, flow.lease.mode)

    def finish(self, flow: Flow) -> None:
        self._release(flow)

    def _release(self, flow: Flow) -> None:
        """`flow.lease` stays as the last account used (the usage ledger reads it); releasing
        twice is harmless."""
        if flow.lease is not None:
            self.pool.release(flow.lease)
