"""The addon chain runner: calls each hook on every addon that defines it, in list order.

Hooks, in the order a request meets them (`docs/architecture.md` has the whole life):

- `requestheaders(flow)`: the client's headers are known, the body is not parsed yet (auth);
- `request(flow)`: once, with the parsed job (model, prompt, attachments). A hook that sets
  `flow.reply` answers the request itself: the later request hooks and the upstream are skipped;
- `attempt(flow)`: per try at the upstream, on `flow.attempt` (lease, upload, build);
- `responseheaders(flow)`: the upstream's status is known (or the try failed before any
  content): classify, feed the pool back, ask for a retry;
- `transform(flow) -> StreamTransform | None`: per try whose answer is read, a fresh object
  whose `chunk(event)` / `flush()` rewrite the neutral events. Per-try stream state lives
  in it, so a retry starts clean by construction;
- `response(flow)` or `error(flow)`: exactly one of them, once;
- `finish(flow)`: always, in reverse order, each one even if another fails.

Hook lists are computed once when the chain is built, so a hook no addon defines costs
nothing on the request path. `transform`, `chunk` and `flush` are synchronous and cheap; the
others may be async.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Protocol, Sequence

from addons.events import Event
from addons.flow import Flow

log = logging.getLogger(__name__)

HOOKS = ("requestheaders", "request", "attempt", "responseheaders", "response", "error",
         "finish")


class StreamTransform(Protocol):
    """One stream addon's state for one try. `flush` is optional."""

    def chunk(self, event: Event) -> list[Event]: ...


class Transforms:
    """The stream transforms of one try, in chain order."""

    __slots__ = ("_chunk", "_flush")

    def __init__(self, transforms: Sequence[StreamTransform]) -> None:
        self._chunk = [t.chunk for t in transforms]
        # (flush, the chunk hooks of the transforms after it)
        self._flush = [(t.flush, self._chunk[i + 1:]) for i, t in enumerate(transforms)
                       if hasattr(t, "flush")]

    def chunk(self, event: Event) -> list[Event]:
        return _through(self._chunk, [event])

    def flush(self) -> list[Event]:
        """Each flush's output still passes through the chunk hooks of the transforms after
        it; they are called in order, so a later transform has seen an earlier one's held
        text before it flushes its own."""
        out: list[Event] = []
        for flush, later in self._flush:
            out.extend(_through(later, list(flush())))
        return out


class Chain:
    def __init__(self, addons: Sequence[Any]) -> None:
        self.addons = list(addons)
        self._hooks: dict[str, list[tuple[Callable, bool]]] = {
            name: [(fn, inspect.iscoroutinefunction(fn))
                   for fn in (getattr(a, name, None) for a in self.addons) if fn is not None]
            for name in HOOKS
        }
        self._transform = [a.transform for a in self.addons if hasattr(a, "transform")]

    def get(self, cls: type) -> Any:
        """The addon instance of a class (for wiring at start-up and for tests)."""
        for addon in self.addons:
            if isinstance(addon, cls):
                return addon
        raise KeyError(cls.__name__)

    async def _run(self, name: str, flow: Flow) -> None:
        for fn, is_async in self._hooks[name]:
            if is_async:
                await fn(flow)
            else:
                fn(flow)

    async def requestheaders(self, flow: Flow) -> None:
        await self._run("requestheaders", flow)

    async def request(self, flow: Flow) -> None:
        for fn, is_async in self._hooks["request"]:
            if is_async:
                await fn(flow)
            else:
                fn(flow)
            if flow.reply is not None:
                return

    async def attempt(self, flow: Flow) -> None:
        await self._run("attempt", flow)

    async def responseheaders(self, flow: Flow) -> None:
        await self._run("responseheaders", flow)

    def transforms(self, flow: Flow) -> Transforms:
        made = [t for t in (make(flow) for make in self._transform) if t is not None]
        return Transforms(made)

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


def _through(hooks: list[Callable[[Event], list[Event]]], events: list[Event]) -> list[Event]:
    for fn in hooks:
        if not events:
            break
        if len(events) == 1:
            events = fn(events[0])
            continue
        out: list[Event] = []
        for ev in events:
            out.extend(fn(ev))
        events = out
    return events
