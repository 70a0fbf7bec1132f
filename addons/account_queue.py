"""The wait queue of the account selector: requests that found every account able to serve
them at its in-flight cap wait here, first come first served, instead of getting a 429 at once.

The pool calls `notify()` whenever an account may have become leasable (a lease ended, an
account came back). One dispatch per loop turn then offers the capacity to the waiters in
arrival order: each waiter's own `try_lease` runs the usual selection for its request, so a
waiter is served only by an account its model may use, and a waiter that cannot use what was
freed does not hold up one behind it that can. Waiters with the same `key` (same model, same
accounts already tried) would get the same answer, so after one of them fails the others are
skipped for that turn. A waiter leaves the queue the moment it is served, times out, or its
request is cancelled (the client went away), and also, unserved, as soon as a dispatch finds
it waits in vain: nothing it could use is merely busy any more (the busy accounts cooled,
expired or were disabled meanwhile), so no lease ending can serve it.
"""
from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["WaitQueue"]


@dataclass(slots=True)
class _Waiter:
    key: Hashable
    try_lease: Callable[[], bool]
    served: asyncio.Future[bool]
    in_vain: Callable[[], bool] | None


class WaitQueue:
    def __init__(self) -> None:
        self._waiters: dict[int, _Waiter] = {}  # arrival order
        self._keys: Counter[Hashable] = Counter()
        self._ids = itertools.count()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._waiters)

    def has(self, key: Hashable) -> bool:
        """A request like this one is already waiting (a newcomer queues behind it rather
        than taking the next free account first)."""
        return self._keys[key] > 0

    def notify(self) -> None:
        """Capacity may have appeared: offer it to the waiters on the next loop turn (never
        from inside the pool call that freed it)."""
        if self._waiters and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    async def wait(self, key: Hashable, try_lease: Callable[[], bool], timeout: float,
                   in_vain: Callable[[], bool] | None = None) -> bool:
        """Wait until `try_lease()` succeeded for this request (True), or `timeout` seconds
        passed or `in_vain()` said, after a failed `try_lease()`, that no lease ending could
        serve it (False). Both run on the event loop during a dispatch: `try_lease` leases an
        account for the request and says whether it did."""
        served: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        wid = next(self._ids)
        self._waiters[wid] = _Waiter(key, try_lease, served, in_vain)
        self._keys[key] += 1
        self.notify()  # capacity freed before this request queued is offered at once
        try:
            async with asyncio.timeout(timeout):
                return await served
        except TimeoutError:
            return served.done() and not served.cancelled() and served.result()
        finally:
            self._leave(wid)

    def _leave(self, wid: int) -> None:
        waiter = self._waiters.pop(wid, None)
        if waiter is not None:
            self._keys[waiter.key] -= 1
            if self._keys[waiter.key] <= 0:
                del self._keys[waiter.key]

    def _dispatch(self) -> None:
        self._scheduled = False
        stuck: dict[Hashable, bool] = {}  # key -> its waiters wait in vain
        for wid, waiter in list(self._waiters.items()):
            if waiter.served.done() or wid not in self._waiters:
                continue
            if waiter.key not in stuck:
                if waiter.try_lease():
                    waiter.served.set_result(True)
                    self._leave(wid)
                    continue
                stuck[waiter.key] = waiter.in_vain is not None and waiter.in_vain()
            if stuck[waiter.key]:
                waiter.served.set_result(False)
                self._leave(wid)
