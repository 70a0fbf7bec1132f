"""The addon chain runner: calls each hook on every addon that defines it, in list order.

Hook lists are computed once when the chain is built, so a hook no addon defines costs nothing
on the request path. `chunk` and `flush` are synchronous and cheap; the others may be async.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Sequence

from addons.events import Event
from addons.flow import Flow

log = logging.getLogger(__name__)

ASYNC_HOOKS = ("request", "attempt", "responseheaders", "response", "error", "finish")


class Chain:
    def __init__(self, addons: Sequence[Any]) -> None:
        self.addons = list(addons)
        self._hooks: dict[str, list[tuple[Callable, bool]]] = {}
        for name in ASYNC_HOOKS:
            self._hooks[name] = [
                (fn, inspect.iscoroutinefunction(fn))
                for fn in (getattr(a, name, None) for a in self.addons)
                if fn is not None
            ]
        self._chunk = [a.chunk for a in self.addons if hasattr(a, "chunk")]
        # (flush hook, the chunk hooks of the addons after it)
        self._flush = []
        for i, addon in enumerate(self.addons):
            if hasattr(addon, "flush"):
                later = [a.chunk for a in self.addons[i + 1:] if hasattr(a, "chunk")]
                self._flush.append((addon.flush, later))

    def get(self, cls: type) -> Any:
        """The addon instance of a class (for tests and wiring)."""
        for addon in self.addons:
            if isinstance(addon, cls):
                return addon
        raise KeyError(cls.__name__)

    async def _run(self, name: str, flow: Flow, reverse: bool = False) -> None:
        hooks = self._hooks[name]
        for fn, is_async in reversed(hooks) if reverse else hooks:
            if is_async:
                await fn(flow)
            else:
                fn(flow)
            if flow.reply is not None and name == "request":
                return

    async def request(self, flow: Flow) -> None:
        await self._run("request", flow)

    async def attempt(self, flow: Flow) -> None:
        await self._run("attempt", flow)

    async def responseheaders(self, flow: Flow) -> None:
        await self._run("responseheaders", flow)

    async def response(self, flow: Flow) -> None:
        await self._run("response", flow)

    async def error(self, flow: Flow) -> None:
        await self._run("error", flow)

    async def finish(self, flow: Flow) -> None:
        """Always runs, in reverse order; one failing addon does not stop the others."""
        for fn, is_async in reversed(self._hooks["finish"]):
            try:
                if is_async:
                    await fn(flow)
                else:
                    fn(flow)
            except Exception:  # noqa: BLE001 - cleanup must reach every addon
                log.exception("finish hook %r failed", fn)

    def chunk(self, flow: Flow, event: Event) -> list[Event]:
        return _through(self._chunk, flow, [event])

    def flush(self, flow: Flow) -> list[Event]:
        """Each addon's flush output still passes through the chunk hooks of the addons after it."""
        out: list[Event] = []
        for fn, later in self._flush:
            # called in list order, so an earlier flush's output has reached this addon's
            # chunk hook before this addon flushes what it holds back
            out.extend(_through(later, flow, list(fn(flow))))
        return out


def _through(hooks: list[Callable], flow: Flow, events: list[Event]) -> list[Event]:
    for fn in hooks:
        if not events:
            break
        if len(events) == 1:
            events = fn(flow, events[0])
            continue
        out: list[Event] = []
        for ev in events:
            out.extend(fn(flow, ev))
        events = out
    return events
