"""Usage accounting and the request audit log, written behind.

`add(record)` runs on the event loop for every finished request and touches only memory: it
adds the record to the current hour's and day's aggregate (by client key, model, endpoint and
account tier) and queues its audit row. A save, at most `account.save_delay_ms` after the
first change of a burst (`DebouncedFlush`), runs on the database thread and writes it all in
one transaction: the aggregates as increments (upserts adding to the row), so every worker and
instance adds its own share and the totals add up, and the audit rows in batches.

The same save prunes, at most every `PRUNE_INTERVAL`: hourly buckets older than 48 hours,
daily buckets older than 90 days, audit rows older than `audit.retention_days`, and the oldest
audit rows beyond `audit.max_rows`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import peewee

from state import bulk_sql
from state.debounce import DebouncedFlush
from state.models import RequestAuditRow, UsageDayRow, UsageHourRow
from state.usage_record import RequestRecord

if TYPE_CHECKING:  # pragma: no cover
    from state.dbthread import DBThread
    from state.options import Loader

__all__ = ["DAY_KEEP_SEC", "HOUR_KEEP_SEC", "UsageBook"]

log = logging.getLogger(__name__)

HOUR_KEEP_SEC = 48 * 3600
DAY_KEEP_SEC = 90 * 86400
#: Seconds between two prunes (one also runs with the first save after the start).
PRUNE_INTERVAL = 600.0
#: Audit rows held in memory while the database is unreachable; the oldest go beyond it
#: (the aggregates are kept whole: they are small).
MAX_PENDING_AUDIT = 50_000
#: audit rows per executemany (bounds one statement's size on MySQL's multi-row insert)
_BATCH = 1000

#: The aggregate's counters, in the order of `_Counters`.
COUNTERS = ("requests", "failures", "client_errors", "prompt_tokens", "completion_tokens",
            "reasoning_tokens", "bytes_in", "bytes_out", "duration_ms", "ttft_ms", "ttft_count",
            "streams", "failovers")
BucketKey = tuple[int, str, str, str, str]  # (bucket start, key, model, endpoint, tier)


def _add(row: list[Any], rec: RequestRecord) -> None:
    row[0] += 1
    row[1] += rec.status >= 400
    row[2] += 400 <= rec.status < 500
    row[3] += rec.prompt_tokens
    row[4] += rec.completion_tokens
    row[5] += rec.reasoning_tokens
    row[6] += rec.bytes_in
    row[7] += rec.bytes_out
    row[8] += rec.duration_ms
    if rec.ttft_ms is not None:
        row[9] += rec.ttft_ms
        row[10] += 1
    row[11] += rec.stream
    row[12] += rec.failovers
    row[13] = rec.key_name


#: the audit row's columns, as `RequestRecord` names them
_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
_record_tuple = attrgetter(*_RECORD_FIELDS)
#: an aggregate row's columns: the bucket's identity, its key name, the counters
_BUCKET_COLUMNS = ("bucket", "key", "model", "endpoint", "tier", "key_name", *COUNTERS)
_BUCKET_CONFLICT = ("bucket", "key", "model", "endpoint", "tier")


def _upsert(kind: str, model: type[peewee.Model], items: dict[BucketKey, list[Any]]) -> None:
    """Each aggregate added to its row (created on first use): one statement for all."""
    sql = bulk_sql.upsert_add_sql(kind, model._meta.table_name, _BUCKET_COLUMNS,
                                  _BUCKET_CONFLICT, COUNTERS, ("key_name",))
    n = len(COUNTERS)
    bulk_sql.execute_many(model._meta.database, sql,
                          [(*key, values[n], *values[:n]) for key, values in items.items()])


def _write(hours: dict[BucketKey, list[Any]], days: dict[BucketKey, list[Any]],
           records: list[RequestRecord], prune: tuple[int, int, int] | None) -> None:
    """On the database thread, in one transaction (the rows are built here too, off the
    event loop, as plain tuples: see `state.bulk_sql`). `prune`: (now in s, audit retention
    in days, audit row cap), or None."""
    db = RequestAuditRow._meta.database
    kind = bulk_sql.dialect(db)
    with db.atomic():
        _upsert(kind, UsageHourRow, hours)
        _upsert(kind, UsageDayRow, days)
        if records:
            sql = bulk_sql.insert_sql(kind, RequestAuditRow._meta.table_name, _RECORD_FIELDS)
            for i in range(0, len(records), _BATCH):
                bulk_sql.execute_many(db, sql, [_record_tuple(r) for r in records[i:i + _BATCH]])
        if prune is not None:
            _prune(*prune)


def _prune(now: int, retention_days: int, max_rows: int) -> None:
    UsageHourRow.delete().where(UsageHourRow.bucket < now - HOUR_KEEP_SEC).execute()
    UsageDayRow.delete().where(UsageDayRow.bucket < now - DAY_KEEP_SEC).execute()
    if retention_days > 0:
        cutoff = (now - retention_days * 86400) * 1000
        RequestAuditRow.delete().where(RequestAuditRow.at < cutoff).execute()
    if max_rows > 0:
        # the id of the newest row beyond the cap (ids grow with time); two statements, as
        # MySQL cannot delete from a table it reads in a subquery
        edge = (RequestAuditRow.select(RequestAuditRow.id).order_by(RequestAuditRow.id.desc())
                .offset(max_rows).limit(1).scalar())
        if edge is not None:
            RequestAuditRow.delete().where(RequestAuditRow.id <= edge).execute()


def _not_negative(value: int) -> None:
    if value < 0:
        raise ValueError("must be 0 or more")


class UsageBook(DebouncedFlush):
    """`start()` inside the serving loop after the migrations, `stop()` before the database
    thread closes. The retention settings are read at every prune."""

    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("audit.save_delay_ms", int, 5000,
                          "Usage totals and audit rows are saved at most this long after a "
                          "request (one transaction for everything gathered meanwhile, so "
                          "many keys or models cost few writes); a crash loses at most this "
                          "much. Read at startup.", check=_not_negative)
        loader.add_option("audit.retention_days", int, 7,
                          "Days a row of the request audit log is kept (0 = no age limit). "
                          "Pruned in the background every 10 minutes.", check=_not_negative)
        loader.add_option("audit.max_rows", int, 100_000,
                          "Most rows the request audit log keeps; the oldest go first "
                          "(0 = no cap). Pruned in the background every 10 minutes.",
                          check=_not_negative)

    def __init__(self, db: DBThread, *, delay_ms: int = 500,
                 limits: Callable[[], tuple[int, int]] = lambda: (7, 100_000)) -> None:
        super().__init__(delay_ms)
        self.db = db
        #: (audit.retention_days, audit.max_rows), read at each prune
        self.limits = limits
        self._hours: dict[BucketKey, list[Any]] = {}
        self._days: dict[BucketKey, list[Any]] = {}
        self._audit: list[RequestRecord] = []
        self._next_prune = 0.0  # loop time; 0 = prune with the first save
        #: audit rows dropped because the database stayed unreachable (for the log)
        self.dropped = 0

    async def start(self) -> None:
        self._bind()
        if self.pending:
            self._schedule()

    @property
    def pending(self) -> int:
        return len(self._hours) + len(self._days) + len(self._audit)

    # ---- request path: memory only ----------------------------------------------------
    def add(self, rec: RequestRecord) -> None:
        now = rec.at // 1000
        for table, start in ((self._hours, now - now % 3600), (self._days, now - now % 86400)):
            key = (start, rec.key, rec.model, rec.endpoint, rec.tier)
            row = table.get(key)
            if row is None:
                row = table[key] = [0] * len(COUNTERS) + [""]
            _add(row, rec)
        self._audit.append(rec)
        if len(self._audit) > MAX_PENDING_AUDIT:
            del self._audit[0]
            self.dropped += 1
        self._schedule()

    # ---- write-behind -----------------------------------------------------------------
    async def _flush(self, *, raise_errors: bool) -> None:
        async with self.lock:
            loop = asyncio.get_running_loop()
            prune = loop.time() >= self._next_prune
            if not self.pending and not prune:
                return
            hours, days, audit = self._hours, self._days, self._audit
            self._hours, self._days, self._audit = {}, {}, []
            limits = (int(time.time()), *self.limits()) if prune else None
            try:
                await self.db.run(_write, hours, days, audit, limits)
            except Exception:
                self._restore(hours, days, audit)
                self._failures += 1
                log.exception("saving usage (%d audit rows) failed; retrying", len(audit))
                self._retry_later()
                if raise_errors:
                    raise
                return
            self._failures = 0
            if prune:
                self._next_prune = loop.time() + PRUNE_INTERVAL

    def _restore(self, hours: dict[BucketKey, list[Any]], days: dict[BucketKey, list[Any]],
                 audit: list[RequestRecord]) -> None:
        for mine, old in ((self._hours, hours), (self._days, days)):
            for key, values in old.items():
                row = mine.get(key)
                if row is None:
                    mine[key] = values
                else:
                    for i in range(len(COUNTERS)):
                        row[i] += values[i]
        self._audit[:0] = audit
        extra = len(self._audit) - MAX_PENDING_AUDIT
        if extra > 0:
            del self._audit[:extra]
            self.dropped += extra

    async def prune_now(self) -> None:
        """Save what is pending and prune at once (the admin API, tests)."""
        self._next_prune = 0.0
        await self.flush_now()
