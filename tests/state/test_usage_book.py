"""The usage book on every database: aggregates written as increments add up across
processes, audit rows land in batches, and the background prune keeps the tables bounded
(hourly 48 h, daily 90 days, audit by age and by row cap)."""
from __future__ import annotations

import time

import pytest

from state.dbthread import DBThread
from state.models import RequestAuditRow, UsageDayRow, UsageHourRow
from state.usage_book import UsageBook
from state.usage_query import RequestFilter, audit_page, request_stats, usage_series
from state.usage_record import RequestRecord


def record(at_s: float, *, key: str = "k1", model: str = "m", status: int = 200,
           prompt: int = 10, completion: int = 5, stream: bool = False,
           ttft: int | None = None, failovers: int = 0) -> RequestRecord:
    return RequestRecord(at=int(at_s * 1000), request_id="r", key=key, key_name=key.upper(),
                         model=model, endpoint="openai.chat", account="abcd…wxyz",
                         tier="basic", status=status, prompt_tokens=prompt,
                         completion_tokens=completion, stream=stream, ttft_ms=ttft,
                         duration_ms=100, failovers=failovers, bytes_in=50, bytes_out=70)


def count(thread: DBThread, model) -> int:
    return thread.run_sync(lambda: model.select().count())


async def test_two_processes_add_up_on_one_database(db_factory):
    """Two books on two connections to one database (two workers or instances): every
    aggregate is the sum of both, however their saves interleave."""
    threads = [DBThread(db_factory()) for _ in range(2)]
    from state.migrations import migrate
    threads[0].run_sync(migrate, threads[0].db)
    books = [UsageBook(t, delay_ms=60_000) for t in threads]
    try:
        for book in books:
            await book.start()
        now = time.time()
        for i in range(3):
            books[0].add(record(now, prompt=10, completion=5))
            books[1].add(record(now, prompt=1, completion=2, stream=True, ttft=40,
                                failovers=1))
            await books[i % 2].flush_now()
        books[1].add(record(now, status=429, key="k2"))
        for book in books:
            await book.flush_now()
        series = threads[0].run_sync(usage_series, int(now) - 60, int(now), "key", None)
        by_key = {s["group"]: s for s in series["series"]}
        k1 = by_key["k1"]
        assert k1["requests"] == 6 and k1["prompt_tokens"] == 33 and k1["completion_tokens"] == 21
        assert k1["streams"] == 3 and k1["failovers"] == 3 and k1["avg_ttft_ms"] == 40.0
        assert by_key["k2"]["failures"] == 1 and by_key["k2"]["client_errors"] == 1
        assert series["key_names"] == {"k1": "K1", "k2": "K2"}
        daily = threads[0].run_sync(usage_series, int(now) - 5 * 86400, int(now), None, None)
        assert daily["granularity"] == "day" and daily["totals"]["requests"] == 7
        stats = threads[0].run_sync(request_stats)
        assert stats["summary"]["total"] == 7 and stats["summary"]["failed"] == 1
        assert stats["hourly"][-1]["total"] == 7
        page = threads[0].run_sync(audit_page, RequestFilter(status="4xx"), 1, 10)
        assert page["total"] == 1 and page["items"][0]["key"] == "k2"
        assert count(threads[0], RequestAuditRow) == 7
    finally:
        for book in books:
            await book.stop()
        for t in threads:
            t.close()


async def test_prune_drops_old_buckets_old_rows_and_rows_beyond_the_cap(dbthread):
    limits = {"value": (7, 0)}
    book = UsageBook(dbthread, delay_ms=60_000, limits=lambda: limits["value"])
    await book.start()
    try:
        now = time.time()
        book.add(record(now - 3 * 86400))  # hourly bucket too old; daily and audit kept
        book.add(record(now - 100 * 86400))  # everything too old
        book.add(record(now - 8 * 86400))  # audit row too old (7 days)
        for _ in range(5):
            book.add(record(now))
        await book.prune_now()
        hours = dbthread.run_sync(lambda: [r.bucket for r in UsageHourRow.select()])
        assert hours == [int(now) - int(now) % 3600]
        days = dbthread.run_sync(lambda: sorted(r.bucket for r in UsageDayRow.select()))
        assert len(days) == 3 and min(days) > now - 91 * 86400
        assert count(dbthread, RequestAuditRow) == 6
        # the row cap keeps the newest
        limits["value"] = (0, 4)
        newest = dbthread.run_sync(
            lambda: [r.id for r in RequestAuditRow.select().order_by(RequestAuditRow.id.desc())])
        await book.prune_now()
        kept = dbthread.run_sync(
            lambda: [r.id for r in RequestAuditRow.select().order_by(RequestAuditRow.id.desc())])
        assert kept == newest[:4]
    finally:
        await book.stop()


async def test_a_failed_save_keeps_everything_for_the_next(sqlite_thread, monkeypatch):
    book = UsageBook(sqlite_thread, delay_ms=60_000)
    await book.start()
    try:
        import state.usage_book as module

        real = module._write

        def broken(*args):
            raise RuntimeError("database down")

        monkeypatch.setattr(module, "_write", broken)
        book.add(record(time.time(), prompt=7))
        with pytest.raises(RuntimeError):
            await book.flush_now()
        book.add(record(time.time(), prompt=3))
        monkeypatch.setattr(module, "_write", real)
        await book.flush_now()
        totals = sqlite_thread.run_sync(usage_series, int(time.time()) - 60, int(time.time()),
                                        None, None)["totals"]
        assert totals["requests"] == 2 and totals["prompt_tokens"] == 10
        assert count(sqlite_thread, RequestAuditRow) == 2
    finally:
        await book.stop()


def test_the_old_per_model_daily_counters_move_into_the_daily_usage(dbthread, monkeypatch):
    """A database from before the usage book: its `model_usage` rows become daily usage
    (key `history`) and the old table goes, so there is one ledger."""
    from state import migrations
    from state.models import ModelUsageRow

    db = dbthread.db
    mine = migrations.MIGRATIONS.index(migrations._m_usage_audit)
    # roll the schema back to just before this migration
    dbthread.run_sync(lambda: db.drop_tables([UsageHourRow, UsageDayRow, RequestAuditRow]))
    dbthread.run_sync(lambda: db.create_tables([ModelUsageRow]))
    dbthread.run_sync(lambda: migrations.SchemaVersion.delete()
                      .where(migrations.SchemaVersion.version > mine).execute())
    dbthread.run_sync(lambda: ModelUsageRow.insert_many([
        {"model": "grok-4.20-fast", "day": "2026-11-30", "requests": 9, "failures": 2,
         "prompt_tokens": 90, "completion_tokens": 45},
        {"model": "grok-4.20-auto", "day": "2026-12-01", "requests": 1, "failures": 0,
         "prompt_tokens": 3, "completion_tokens": 4}]).execute())
    assert dbthread.run_sync(migrations.migrate, db) == migrations.latest_version()
    rows = dbthread.run_sync(lambda: sorted(
        (r.bucket, r.key, r.model, r.requests, r.failures, r.prompt_tokens, r.completion_tokens)
        for r in UsageDayRow.select()))
    day = 1795996800  # 2026-11-30 00:00 UTC
    assert rows == [(day, "history", "grok-4.20-fast", 9, 2, 90, 45),
                    (day + 86400, "history", "grok-4.20-auto", 1, 0, 3, 4)]
    assert not dbthread.run_sync(db.table_exists, "model_usage")
