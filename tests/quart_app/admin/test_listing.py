"""The admin token listing at scale: server-side sort and page, the same rows and counts as
the plain filter, and a pass that lets proxied requests run while it works."""
from __future__ import annotations

import asyncio
import random

import pytest

from quart_app.admin.listing import SLICE, list_accounts
from quart_app.admin.views import FILTER_STATUSES, counts, matches
from state.account import Account, now_ms


def tokens_of(body) -> list[str]:
    return [row["token"] for row in body["tokens"]]


async def test_sort_and_order_page_through_equal_values_stably(admin):
    for i in range(7):
        admin.pool.add(f"tok-{i:02d}-abcdefghijklmnop", "basic")
        admin.pool.get(f"tok-{i:02d}-abcdefghijklmnop").usage_use_count = i % 3
    status, body = await admin.call("GET", "/tokens?sort=use_count&order=desc&page_size=3")
    assert status == 200 and body["total"] == 7
    first = tokens_of(body)
    status, body = await admin.call("GET", "/tokens?sort=use_count&order=desc&page=2&page_size=3")
    second = tokens_of(body)
    status, body = await admin.call("GET", "/tokens?sort=use_count&order=desc&page=3&page_size=3")
    every = first + second + tokens_of(body)
    # highest use count first; equal counts keep the table order
    assert every == [f"tok-{i:02d}-abcdefghijklmnop" for i in (2, 5, 1, 4, 0, 3, 6)]
    status, body = await admin.call("GET", "/tokens?sort=token")
    assert tokens_of(body) == sorted(tokens_of(body)) and len(body["tokens"]) == 7


@pytest.mark.parametrize("query, param", [("sort=colour", "sort"), ("order=up", "order")])
async def test_a_bad_sort_is_400_naming_the_parameter(admin, query, param):
    status, body = await admin.call("GET", "/tokens?" + query)
    assert status == 400 and body["error"]["param"] == param
    assert body["error"]["type"] == "validation_error"


def _table(n: int) -> list[Account]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        acc = Account.new(f"tok-{i:05d}", rng.choice(("basic", "super", "heavy")), now=0)
        acc.status = rng.choice(("active", "active", "cooling", "expired", "disabled"))
        acc.tags = rng.choice(([], ["nsfw"], ["x"]))
        acc.note = rng.choice(("", "team blue"))
        acc.usage_use_count = rng.randrange(5)
        if rng.random() < 0.2:
            acc.deleted_at = 1
        for win in acc.quota.values():
            win.remaining, win.source = rng.choice(((0, 1), (3, 1), (5, 0)))
        out.append(acc)
    return out


@pytest.mark.parametrize("status", [None, *FILTER_STATUSES])
async def test_the_listing_matches_the_plain_filter(status):
    table, now = _table(3 * SLICE + 17), now_ms()
    for flt in ({}, {"pool": "super"}, {"tag": "nsfw"}, {"nsfw": False}, {"search": "BLUE"}):
        args = {"pool": None, "tag": None, "nsfw": None, "search": None, **flt}
        expected = [a for a in table if matches(a, status=status, now=now, **args)]
        got = await list_accounts(table, status=status, now=now, sort=None, descending=False,
                                  start=0, stop=None, **args)
        assert got.rows == expected and got.total == len(expected)
        assert got.counts == counts(table, now)
        page = await list_accounts(table, status=status, now=now, sort="use_count",
                                   descending=True, start=10, stop=20, **args)
        by_use = sorted(expected, key=lambda a: -a.usage_use_count)  # stable: table order
        assert page.rows == by_use[10:20] and page.total == len(expected)


async def test_the_listing_lets_other_tasks_run_while_it_works():
    table, ticks = _table(10 * SLICE), []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = len(ticks)
    await list_accounts(table, pool=None, status=None, tag=None, nsfw=None, search=None,
                        now=now_ms(), sort="token", descending=False, start=0, stop=50)
    task.cancel()
    assert len(ticks) - before >= 9  # a turn of the loop after every slice
