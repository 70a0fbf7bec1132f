"""The batch task registry: events, concurrency, cancel, late readers, masking."""
from __future__ import annotations

import asyncio

import orjson

from quart_app.admin.batch import nsfw_outcome, progress_stream
from quart_app.admin.tasks import BatchTask, TaskRegistry, run_items
from quart_app.admin.views import mask_token

TOKENS = [f"eyJhbGciOiJIUzI1NiJ9.account-{i}.0123456789abcdef{i:02d}" for i in range(6)]


def drain(queue: asyncio.Queue) -> list:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_run_items_counts_masks_and_limits_concurrency():
    running = peak = 0

    async def action(token: str):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if token == TOKENS[1]:
            raise RuntimeError(f"boom for {token}")
        return token != TOKENS[2], {"echo": token}

    task = BatchTask("test", len(TOKENS))
    queue = task.subscribe()
    await run_items(task, TOKENS, action, concurrency=2)
    events = drain(queue)
    assert peak == 2
    assert [e["type"] for e in events if e] == ["snapshot"] + ["progress"] * 6 + ["done"]
    assert events[-1] is None
    done = events[-2]
    assert done["result"]["summary"] == {"total": 6, "ok": 4, "fail": 2}
    text = orjson.dumps(events[:-1]).decode()
    assert not any(t in text for t in TOKENS)  # masked everywhere, error text included
    assert mask_token(TOKENS[0]) in done["result"]["results"]
    assert "RuntimeError" in done["result"]["results"][mask_token(TOKENS[1])]["error"]


async def test_cancel_stops_the_task_and_keeps_what_was_done():
    registry = TaskRegistry()
    gate = asyncio.Event()

    async def action(token: str):
        if token != TOKENS[0]:
            await gate.wait()
        return True, {}

    task = registry.start("test", TOKENS, action, concurrency=2)
    queue = task.subscribe()
    while task.processed < 1:
        await asyncio.sleep(0.005)
    assert task.cancel() and not task.cancel()
    await asyncio.sleep(0.01)
    assert task.runner.done() and task.status == "cancelled" and task.processed == 1
    events = [e for e in drain(queue) if e]
    assert events[-1]["type"] == "cancelled" and events[-1]["result"]["summary"]["ok"] == 1
    # a late reader gets the snapshot and the terminal event at once
    late = drain(task.subscribe())
    assert [e["type"] for e in late[:-1]] == ["snapshot", "cancelled"] and late[-1] is None
    assert registry.get(task.id) is task


async def test_finished_tasks_are_forgotten_after_keep_sec():
    registry = TaskRegistry(keep_sec=0.0)

    async def action(token: str):
        return True, {}

    task = registry.start("test", TOKENS[:1], action, 1)
    await task.runner
    await asyncio.sleep(0.001)
    assert registry.get(task.id) is None


async def test_progress_stream_pings_at_once_and_on_silence_then_ends():
    gate = asyncio.Event()

    async def action(token: str):
        await gate.wait()
        return True, {}

    registry = TaskRegistry()
    task = registry.start("test", TOKENS[:2], action, 1)
    frames = []

    async def read():
        async for frame in progress_stream(task, heartbeat=0.02):
            frames.append(frame)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.08)
    gate.set()
    await asyncio.wait_for(reader, 2)
    assert frames[0] == b": ping\n\n" and frames.count(b": ping\n\n") >= 3
    events = [orjson.loads(f[6:]) for f in frames if f.startswith(b"data: ")]
    assert [e["type"] for e in events] == ["snapshot", "progress", "progress", "done"]


async def test_close_cancels_running_tasks():
    registry = TaskRegistry()

    async def action(token: str):
        await asyncio.sleep(10)
        return True, {}

    task = registry.start("test", TOKENS, action, 3)
    await asyncio.sleep(0)
    await registry.close()
    assert task.status == "cancelled" and task.runner.done()


def test_nsfw_outcomes():
    assert nsfw_outcome(None) == (True, {"success": True})
    assert nsfw_outcome(False) == (False, {"success": False})
    assert nsfw_outcome({"ok": False, "error": "x"})[0] is False
    assert nsfw_outcome({"success": True, "tagged": True}) == (True, {"success": True, "tagged": True})
    assert nsfw_outcome({"error": "x"})[0] is False
    assert nsfw_outcome((True, {"a": 1})) == (True, {"a": 1})
