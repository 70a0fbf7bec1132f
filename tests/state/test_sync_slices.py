"""A sync that brings in a big batch (another process imported thousands of accounts) merges
it in slices: the requests being served keep running, and the index knows every account."""
from __future__ import annotations

import asyncio

from state.account import Account
from state.pool import AccountPool
from state.sync import MERGE_SLICE, AccountSync


class Thread:
    async def run(self, fn, *args):
        return fn(*args)


class Store:
    def __init__(self, accounts):
        self.accounts = accounts

    def revision(self) -> int:
        return 7

    def load_since(self, revision: int):
        return self.accounts


class Writer:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()

    def is_dirty(self, token: str) -> bool:
        return False

    def mark(self, account, *, urgent: bool = False) -> None:
        pass


async def test_a_big_sync_is_merged_in_slices_and_every_account_is_selectable():
    incoming = [Account.new(f"tok-{i:05d}", "basic", now=0) for i in range(3 * MERGE_SLICE + 5)]
    incoming[-1].quota["fast"].remaining = 500  # the best of them arrives last
    pool = AccountPool(None)
    sync = AccountSync(Thread(), Store(incoming), pool, Writer())
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = ticks
    assert await sync.sync_now() == len(incoming)
    task.cancel()
    assert ticks - before >= 3  # the loop ran between the slices
    assert len(pool) == len(incoming)
    assert pool.select(["basic"], "fast").token == incoming[-1].token
