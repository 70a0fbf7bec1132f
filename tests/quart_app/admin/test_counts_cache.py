"""The accounts page's counts: old ones are served while one recount runs behind the answer;
an operator's change forgets them, and a recount begun before it is dropped."""
from __future__ import annotations

import asyncio

import pytest

from quart_app.admin.listing import CountsCache


@pytest.fixture(autouse=True)
def no_recount_delay(monkeypatch) -> None:
    monkeypatch.setattr("quart_app.admin.listing.RECOUNT_DELAY", 0.0)


async def test_old_counts_are_served_while_one_recount_runs() -> None:
    cache = CountsCache(ttl=0.0)
    cache.put({"total": 1})
    assert cache.stale() and cache.get() == {"total": 1}
    started = 0
    release = asyncio.Event()

    async def recount() -> dict:
        nonlocal started
        started += 1
        await release.wait()
        return {"total": 2}

    cache.refresh(recount)
    cache.refresh(recount)  # one at a time
    await asyncio.sleep(0.01)
    assert started == 1 and cache.get() == {"total": 1}
    release.set()
    await asyncio.sleep(0.01)
    assert cache.get() == {"total": 2}


async def test_a_change_forgets_them_and_drops_the_recount_begun_before() -> None:
    cache = CountsCache(ttl=60.0)
    cache.put({"total": 1})
    assert not cache.stale()
    release = asyncio.Event()

    async def recount() -> dict:
        await release.wait()
        return {"total": 1}

    cache.refresh(recount)
    cache.forget()
    release.set()
    await asyncio.sleep(0.01)
    assert cache.get() is None  # the next page counts afresh
