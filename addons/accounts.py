"""Account selection: one lease per attempt, released on the next attempt and at the end.

The lease respects the per-account in-flight cap, the model's pool order, and never hands the
same request an account it already tried. Success feedback is applied on `response`.

A request hook may pin the first attempt to one account by setting `flow.pinned_token` (the
continuation addon does, for the account that holds the upstream conversation). The pin is
tried first, with the usual checks, and only once; when it cannot be leased, selection goes
on as if there were no pin.

A managed client key's scope (`flow.account_scope`, set by the keys addon) narrows every
choice: only the pools it names, and only accounts carrying one of its tags; a request whose
scope leaves nothing gets the 429 of an empty pool, never another account.

The strategy (quota scoring or uniform random) follows `account.refresh.enabled` at every
attempt, so switching it takes effect at once.

With a quota refresher bound (quota strategy), a success asks for a refresh of the used mode,
and when nothing is selectable one throttled on-demand refresh runs (waited for at most
`ON_DEMAND_WAIT_SEC`) and selection is tried once more before the 429.

When every account that could serve the request is only at its in-flight cap, the request
waits in a fair queue (`addons.account_queue`) for up to `account.selection.queue_timeout_sec`
for a lease to end, then answers 429 with `Retry-After`. Only that saturation waits: an account
without quota is not waited for, and when the busy accounts cool, expire or go away while
requests wait for them, the waiters get the 429 of an empty pool at once. A request that
arrives while others like it wait queues behind them instead of taking the next free account
first.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Hashable
from typing import Any

from addons.account_queue import WaitQueue
from addons.errors import ApiError, no_account
from addons.flow import Flow
from addons.services.catalogue import Catalogue
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
#: `Retry-After` of a 429 after waiting in vain for a busy account: the client has already
#: waited the queue timeout; a lease usually ends within seconds.
BUSY_RETRY_AFTER_SEC = 2
#: `Retry-After` of a 429 when no account has quota and none is due back by itself
#: (all disabled or expired, say): the operator has to act, so retrying soon is pointless.
NO_ACCOUNT_RETRY_AFTER_SEC = 60


class AccountSelector:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("account.selection.max_inflight", int, 8,
                          "Concurrent requests per account.")
        loader.add_option("account.selection.queue_timeout_sec", float, 10.0,
                          "Seconds a request waits, first come first served, for an account "
                          "when every account that could serve it is at max_inflight, before "
                          "it answers 429 with Retry-After. 0 = answer 429 at once. An account "
                          "without quota is never waited for.")
        loader.add_option("features.auto_chat_mode_fallback", bool, True,
                          "A chat model in mode `auto` whose auto quota is exhausted falls back "
                          "to fast, then expert.")

    def __init__(self, pool: Any, settings: Any) -> None:
        self.pool = pool
        self.settings = settings
        self.refresher: Any | None = None
        self.queue = WaitQueue()
        if pool is not None:  # a chain built only to inspect its order has none
            pool.on_capacity = self.queue.notify

    @property
    def queued(self) -> int:
        """Requests waiting for a busy account now (shown on `/health`)."""
        return len(self.queue)

    def bind_refresher(self, refresher: Any | None) -> None:
        """The `QuotaRefresher` (built with the transport, after the chain)."""
        self.refresher = refresher

    @staticmethod
    def _pools(flow: Flow, mode: str) -> tuple[str, ...]:
        """The model's pools for `mode`, narrowed to the client key's scope."""
        pools = Catalogue.usable_pools(flow.model, mode)
        scope = flow.account_scope
        if scope is not None and scope.pools:
            return tuple(p for p in pools if p in scope.pools)
        return pools

    @staticmethod
    def _tags(flow: Flow) -> frozenset[str] | None:
        scope = flow.account_scope
        return scope.tags if scope is not None and scope.tags else None

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
        key = (flow.model.id, tuple(flow.tried), flow.account_scope)
        if pinned and self._select(flow, pinned, pinned_only=True):
            return
        busy = self.queue.has(key)  # others like it wait: queue behind them
        if not busy:
            if self._select(flow, None):
                return
            busy = self._saturated(flow)
        if busy:
            await self._wait(flow, key)
            return
        if self.refresher is not None and not flow.metadata.get(_ON_DEMAND_DONE):
            flow.metadata[_ON_DEMAND_DONE] = True
            try:
                ran = await asyncio.wait_for(self.refresher.on_demand(), ON_DEMAND_WAIT_SEC)
            except TimeoutError:
                ran = True  # still running; whatever it refreshed so far may help
            if ran and self._select(flow, None):
                return
            if self._saturated(flow):
                await self._wait(flow, key)
                return
        raise flow.last_error or self._none_left(flow)

    async def _wait(self, flow: Flow, key: Hashable) -> None:
        """Wait in the queue for an account to be leased to this flow; a 429 with
        Retry-After (or the last upstream error of the flow) when the wait times out."""
        timeout = self.settings.options.account.selection.queue_timeout_sec
        if timeout > 0 and await self.queue.wait(key, lambda: self._select(flow, None), timeout,
                                                 lambda: not self._saturated(flow)):
            return
        if not self._saturated(flow):  # what it waited for cooled, expired or went away
            raise flow.last_error or self._none_left(flow)
        raise flow.last_error or ApiError(
            429, f"Every account that can serve {flow.model.id} is busy "
                 f"(account.selection.max_inflight reached); waited {timeout:g} s",
            type="rate_limit_error", code="rate_limit_exceeded",
            retry_after=BUSY_RETRY_AFTER_SEC)

    def _saturated(self, flow: Flow) -> bool:
        how = strategy(self.settings)
        tags = self._tags(flow)
        return any(self.pool.saturated(self._pools(flow, mode), mode, exclude=flow.tried,
                                       strategy=how, tags=tags)
                   for mode in self._modes(flow))

    def _none_left(self, flow: Flow) -> ApiError:
        """The 429 when no account has quota: Retry-After says when the first cooldown or
        quota window of the model's accounts ends."""
        times = [t for mode in self._modes(flow)
                 if (t := self.pool.next_ready_at(self._pools(flow, mode), mode)) is not None]
        wait = NO_ACCOUNT_RETRY_AFTER_SEC
        if times:
            wait = max(1, math.ceil(min(times) / 1000 - time.time()))
        return no_account(flow.model.id, retry_after=wait)

    def _select(self, flow: Flow, pinned: str | None, *, pinned_only: bool = False) -> bool:
        max_inflight = self.settings.options.account.selection.max_inflight
        how = strategy(self.settings)
        tries = (pinned,) if pinned_only else ((pinned, None) if pinned else (None,))
        tags = self._tags(flow)
        for only in tries:
            for mode in self._modes(flow):
                pools = self._pools(flow, mode)
                lease = self.pool.select(pools, mode, exclude=flow.tried,
                                         max_inflight=max_inflight, only=only,
                                         strategy=how, tags=tags)
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
