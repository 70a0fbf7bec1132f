"""`grok2api bench-pool`: the cost of the account pool itself, without HTTP.

* Selection: µs per request (p50/p99) for `AccountPool.select` plus the release of an older
  lease (a window of leases stays open, as concurrent requests hold them), per strategy, at
  each pool size.
* Table: the time to load the pool (building the selection index) and to merge a tenth of
  it changed by another process (what `state.sync` does), at each pool size.
* Write-behind: the time of one flush of a burst of N dirty accounts (one transaction) on a
  temporary SQLite file and, with `--database-url` / `DATABASE_URL`, on that server in a
  throwaway database created and dropped by the bench (never the live tables), and the
  longest the event loop was held up during the flush (the rest runs on the database thread).
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
import orjson

from state.account import Account
from state.db import normalize_url, open_sqlite, open_url
from state.dbthread import DBThread
from state.migrations import migrate
from state.pool import QUOTA, RANDOM, AccountPool
from state.store import AccountStore
from state.writer import WriteBehind

__all__ = ["bench_pool", "flush_bench", "selection_bench", "table_bench"]

#: Leases held open at once while selecting (concurrent requests).
OPEN_LEASES = 64


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _accounts(n: int, pool: str = "super") -> list[Account]:
    out = []
    for i in range(n):
        acc = Account.new(f"bench-{i:06d}", pool, now=0)
        acc.quota["fast"].remaining = 40 + i % 100
        out.append(acc)
    return out


@contextlib.contextmanager
def _frozen() -> Any:
    """The loaded table out of the garbage collector's way, as `grok2api serve` has it."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def selection_bench(size: int, requests: int, strategy: str) -> dict[str, Any]:
    """µs per select + release of the oldest open lease, over `requests` selections."""
    pool = AccountPool(None)
    pool.load(_accounts(size))
    with _frozen():
        return _select_rounds(pool, size, requests, strategy)


def _select_rounds(pool: AccountPool, size: int, requests: int, strategy: str) -> dict[str, Any]:
    held: deque[Any] = deque()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(requests):
        t0 = clock()
        lease = pool.select(["super"], "fast", max_inflight=8, strategy=strategy)
        if lease is not None:
            held.append(lease)
        if len(held) > OPEN_LEASES:
            pool.release(held.popleft())
        samples.append((clock() - t0) / 1000)
    return {"accounts": size, "strategy": strategy, "requests": requests,
            "p50_us": round(_percentile(samples, 0.50), 1),
            "p99_us": round(_percentile(samples, 0.99), 1),
            "mean_us": round(statistics.fmean(samples), 1)}


def table_bench(size: int) -> dict[str, Any]:
    """ms to load `size` accounts into a pool and to merge a tenth of them changed."""
    accounts = _accounts(size)
    pool = AccountPool(None)
    t0 = time.perf_counter()
    pool.load(accounts)
    load_ms = (time.perf_counter() - t0) * 1000
    changed = []
    for acc in accounts[::10]:
        copy = Account.new(acc.token, acc.pool, now=0)
        copy.quota["fast"].remaining = 3
        copy.revision = acc.revision + 1
        changed.append(copy)
    t0 = time.perf_counter()
    pool.merge(changed)
    merge_ms = (time.perf_counter() - t0) * 1000
    return {"accounts": size, "load_ms": round(load_ms, 1), "merged": len(changed),
            "merge_ms": round(merge_ms, 1)}


class _LoopWatch:
    """The longest stretch the event loop went without running this task (ms)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0)
            now = time.perf_counter()
            self.longest = max(self.longest, (now - last) * 1000)
            last = now

    def __enter__(self) -> _LoopWatch:
        self._task = asyncio.ensure_future(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _flush_rounds(thread: DBThread, burst: int, rounds: int) -> tuple[list[float], list[float]]:
    store = AccountStore(thread.db)
    await thread.run(migrate, thread.db)
    accounts = _accounts(burst)
    await thread.run(store.save, accounts)
    pool = AccountPool(None)
    pool.load(await thread.run(store.load_all))
    gc.collect()
    gc.freeze()  # as `grok2api serve` does after loading (unfrozen by the caller's exit)
    writer = WriteBehind(thread, store, delay_ms=60_000)  # flushed by hand only
    pool.writer = writer
    writer.start()
    times: list[float] = []
    blocked: list[float] = []
    try:
        for _ in range(rounds):
            for acc in pool.all():  # a burst: every account used once
                lease = pool.select(["super"], "fast", only=acc.token)
                if lease is not None:
                    pool.on_success(lease)
                    pool.release(lease)
            if writer.pending != burst:
                raise RuntimeError(f"{writer.pending} dirty accounts, expected {burst}")
            with _LoopWatch() as watch:
                await asyncio.sleep(0)
                t0 = time.perf_counter()
                await writer.flush_now()
                times.append((time.perf_counter() - t0) * 1000)
            blocked.append(watch.longest)
    finally:
        await writer.stop()
        gc.unfreeze()
    return times, blocked


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def flush_bench(burst: int, rounds: int, database_url: str | None = None) -> dict[str, Any]:
    """ms per write-behind flush of `burst` dirty accounts: SQLite, or a throwaway database
    on the server `database_url` names."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="g2a-bench-pool-") as tmp:
            thread = DBThread(open_sqlite(Path(tmp) / "accounts.db"))
            try:
                times, blocked = await _flush_rounds(thread, burst, rounds)
            finally:
                await thread.aclose()
        backend = "sqlite"
    else:
        backend, url = normalize_url(database_url)
        name = f"g2a_bench_{uuid.uuid4().hex[:10]}"
        admin = DBThread(open_url(url))

        def ddl(sql: str) -> None:
            conn = admin.db.connection()
            if backend == "postgresql":
                conn.autocommit = True
            admin.db.execute_sql(sql)

        await admin.run(ddl, f"CREATE DATABASE {name}")
        try:
            thread = DBThread(open_url(_with_db(url, name)))
            try:
                times, blocked = await _flush_rounds(thread, burst, rounds)
            finally:
                await thread.aclose()
        finally:
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            await admin.run(ddl, f"DROP DATABASE IF EXISTS {name}{force}")
            await admin.aclose()
    return {"backend": backend, "dirty": burst, "rounds": rounds,
            "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "loop_blocked_max_ms": round(max(blocked), 1)}


@click.command("bench-pool")
@click.option("--sizes", default="1000,10000,100000", show_default=True,
              help="Pool sizes (accounts), comma-separated.")
@click.option("--requests", default=20000, show_default=True, help="Selections per size.")
@click.option("--burst", default=10000, show_default=True, help="Dirty accounts per flush.")
@click.option("--rounds", default=3, show_default=True, help="Flushes per backend.")
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="Also flush on this server (in a throwaway database). Default: DATABASE_URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_pool(sizes: str, requests: int, burst: int, rounds: int, database_url: str | None,
               as_json: bool) -> None:
    """Selection cost per request and write-behind flush time of the account pool."""
    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated integers", param_hint="--sizes") from None
    selection = [selection_bench(n, requests, how) for n in counts for how in (QUOTA, RANDOM)]
    table = [table_bench(n) for n in counts]

    async def flushes() -> list[dict[str, Any]]:
        out = [await flush_bench(burst, rounds)]
        if database_url:
            out.append(await flush_bench(burst, rounds, database_url))
        return out

    try:
        flush = asyncio.run(flushes())
    except Exception as exc:  # noqa: BLE001 - a server that refuses is a usage problem
        raise click.ClickException(f"flush bench failed: {exc}") from None
    if as_json:
        click.echo(orjson.dumps({"selection": selection, "table": table, "flush": flush},
                                option=orjson.OPT_INDENT_2).decode())
        return
    click.echo("selection (select + release), µs per request")
    for r in selection:
        click.echo(f"  {r['accounts']:>7} accounts  {r['strategy']:<6}  p50 {r['p50_us']:>8.1f}"
                   f"  p99 {r['p99_us']:>8.1f}  mean {r['mean_us']:>8.1f}")
    click.echo("table: load (index built), merge of a tenth changed elsewhere")
    for r in table:
        click.echo(f"  {r['accounts']:>7} accounts  load {r['load_ms']:>8.1f} ms"
                   f"  merge {r['merged']:>6} {r['merge_ms']:>8.1f} ms")
    click.echo("write-behind flush, one transaction")
    for r in flush:
        click.echo(f"  {r['backend']:<10}  {r['dirty']:>6} dirty  median {r['median_ms']:>8.1f} ms"
                   f"  max {r['max_ms']:>8.1f} ms  loop held up at most"
                   f" {r['loop_blocked_max_ms']:>6.1f} ms")
