"""The deferred keep-alive idle task that replaces Hypercorn's per-request idle task."""
from __future__ import annotations

import asyncio

import pytest

from quart_app import keepalive
from quart_app.keepalive import DeferredIdleTask


class Group:
    """Stands in for Hypercorn's TaskGroup (the idle task is created on its asyncio group)."""

    def __init__(self) -> None:
        self._task_group = self
        self.tasks: list[asyncio.Task] = []

    def create_task(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task


@pytest.fixture(autouse=True)
def short_grace(monkeypatch):
    monkeypatch.setattr(keepalive, "GRACE", 0.05)


async def test_an_idle_connection_still_gets_its_idle_action() -> None:
    closed = asyncio.Event()

    async def idle_timeout() -> None:
        closed.set()

    idle, group = DeferredIdleTask(), Group()
    await idle.restart(group, idle_timeout)
    await asyncio.wait_for(closed.wait(), 1)


async def test_a_request_within_the_grace_costs_no_task() -> None:
    ran = []

    async def idle_timeout() -> None:
        ran.append(True)

    idle, group = DeferredIdleTask(), Group()
    for _ in range(5):  # back-to-back requests on a keep-alive connection
        await idle.restart(group, idle_timeout)
        await idle.stop()
    await asyncio.sleep(0.15)
    assert group.tasks == [] and ran == []


async def test_stop_cancels_a_started_idle_action() -> None:
    started = asyncio.Event()

    async def idle_timeout() -> None:
        started.set()
        await asyncio.sleep(30)  # keep_alive_timeout

    idle, group = DeferredIdleTask(), Group()
    await idle.restart(group, idle_timeout)
    await asyncio.wait_for(started.wait(), 1)
    await idle.stop()  # the next request arrived: the connection must stay open
    assert group.tasks[0].cancelled()
