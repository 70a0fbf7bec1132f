from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import pytest

from ops.simulator.app import RunningSimulator, start_simulator


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    running.state.add_token("tok", "super")
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
