"""Batch tasks over many accounts with progress events.

A task runs one async action per token, `concurrency` at a time, and publishes events to every
subscriber: a `snapshot` when one subscribes, a `progress` after each token, and one terminal
event (`done`, `cancelled` or `error`). A subscriber arriving after the end gets the snapshot
and the terminal event at once. Tokens are masked in everything a task publishes or returns.
Finished tasks are kept `keep_sec` (5 min) for late readers. No Quart here.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from quart_app.admin.views import mask_token, scrub

__all__ = ["Action", "BatchTask", "TaskRegistry", "run_items"]

log = logging.getLogger(__name__)

#: One token's work: (ok, detail). An exception counts as a failure with its message.
Action = Callable[[str], Awaitable[tuple[bool, dict[str, Any]]]]
TERMINAL = ("done", "cancelled", "error")
KEEP_SEC = 300.0
HEARTBEAT_SEC = 15.0


class BatchTask:
    def __init__(self, kind: str, total: int, task_id: str | None = None) -> None:
        self.id = task_id or secrets.token_hex(16)
        self.kind = kind
        self.total = total
        self.status = "running"
        self.processed = self.ok = self.fail = 0
        self.results: dict[str, dict[str, Any]] = {}
        self.warning: str | None = None
        self.error: str | None = None
        self.finished_at: float | None = None
        self.runner: asyncio.Task[Any] | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def _counts(self) -> dict[str, Any]:
        return {"task_id": self.id, "total": self.total, "processed": self.processed,
                "ok": self.ok, "fail": self.fail}

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", **self._counts(), "status": self.status, "kind": self.kind,
                "warning": self.warning}

    def result(self) -> dict[str, Any]:
        """The final body (sync mode) / the `result` of the terminal event."""
        return {"status": "success" if self.status != "error" else "error",
                "summary": {"total": self.total, "ok": self.ok, "fail": self.fail},
                "results": dict(self.results)}

    def terminal_event(self) -> dict[str, Any] | None:
        if not self.finished:
            return None
        event: dict[str, Any] = {"type": self.status, **self._counts(), "warning": self.warning,
                                 "result": self.result()}
        if self.status == "error":
            event["error"] = self.error
        return event

    # ------------------------------------------------------------------ events
    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue that starts with the snapshot; None after the terminal event ends it."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        queue.put_nowait(self.snapshot())
        terminal = self.terminal_event()
        if terminal is not None:
            queue.put_nowait(terminal)
            queue.put_nowait(None)
        else:
            self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, event: dict[str, Any], last: bool = False) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(event)
            if last:
                queue.put_nowait(None)
        if last:
            self._subscribers.clear()

    def record(self, token: str, ok: bool, detail: dict[str, Any]) -> None:
        if self.finished:
            return
        item = key = mask_token(token)
        clean = scrub(detail, token)
        n = 1
        while key in self.results:  # two tokens that mask alike stay apart
            n += 1
            key = f"{item}#{n}"
        self.results[key] = clean
        self.processed += 1
        if ok:
            self.ok += 1
        else:
            self.fail += 1
        self._publish({"type": "progress", **self._counts(), "item": item, "detail": clean})

    def finish(self, status: str, error: str | None = None) -> None:
        if self.finished:
            return
        self.status, self.error = status, error
        self.finished_at = time.monotonic()
        self._publish(self.terminal_event() or {}, last=True)

    def cancel(self) -> bool:
        """Stop a running task; its result keeps what was done. False if already finished."""
        if self.finished:
            return False
        if self.runner is not None and not self.runner.done():
            self.runner.cancel()
        self.finish("cancelled")
        return True


async def run_items(task: BatchTask, tokens: Sequence[str], action: Action,
                    concurrency: int) -> BatchTask:
    """Run `action` on every token, `concurrency` at a time; finish the task when all ran.
    Cancellation (a cancel request, a sync client that left) finishes it as `cancelled`."""
    items = iter(tokens)

    async def one(token: str) -> None:
        try:
            ok, detail = await action(token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one account never stops the batch
            log.warning("batch %s: %s failed: %r", task.kind, mask_token(token), exc)
            ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
        task.record(token, ok, detail)

    async def worker() -> None:
        for token in items:
            await one(token)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(tokens))))))
    except asyncio.CancelledError:
        task.finish("cancelled")
        raise
    except Exception as exc:  # noqa: BLE001
        log.exception("batch %s failed", task.kind)
        task.finish("error", f"{type(exc).__name__}: {exc}"[:300])
        return task
    task.finish("done")
    return task


class TaskRegistry:
    """The batch tasks of one app (per process: Hypercorn workers each have their own)."""

    def __init__(self, keep_sec: float = KEEP_SEC, heartbeat: float = HEARTBEAT_SEC) -> None:
        self.keep_sec = keep_sec
        #: Seconds of silence after which a progress stream sends `: ping` (proxies close quiet
        #: streams).
        self.heartbeat = heartbeat
        self._tasks: dict[str, BatchTask] = {}

    def _prune(self) -> None:
        now = time.monotonic()
        for task_id, task in list(self._tasks.items()):
            if task.finished_at is not None and now - task.finished_at > self.keep_sec:
                del self._tasks[task_id]

    def get(self, task_id: str) -> BatchTask | None:
        self._prune()
        return self._tasks.get(task_id)

    def start(self, kind: str, tokens: Sequence[str], action: Action,
              concurrency: int) -> BatchTask:
        """Run in the background; the task is found by id until `keep_sec` after its end."""
        self._prune()
        task = BatchTask(kind, len(tokens))
        self._tasks[task.id] = task
        task.runner = asyncio.get_running_loop().create_task(
            self._run(task, tokens, action, concurrency), name=f"batch-{kind}-{task.id[:8]}")
        return task

    @staticmethod
    async def _run(task: BatchTask, tokens: Sequence[str], action: Action,
                   concurrency: int) -> None:
        try:
            await run_items(task, tokens, action, concurrency)
        except asyncio.CancelledError:
            pass  # finished as cancelled by run_items

    @staticmethod
    async def run_now(kind: str, tokens: Sequence[str], action: Action,
                      concurrency: int) -> BatchTask:
        """Sync mode: run in the request and return the finished task."""
        return await run_items(BatchTask(kind, len(tokens)), tokens, action, concurrency)

    async def close(self) -> None:
        running = [t for t in self._tasks.values() if not t.finished]
        for task in running:
            task.cancel()
        await asyncio.gather(*(t.runner for t in running if t.runner is not None),
                             return_exceptions=True)
