"""The tables a backup holds, read and written row by row as plain JSON values, so an archive
made on one database restores on another (SQLite → PostgreSQL, MySQL → SQLite, …).

Every function runs on the database thread (`DBThread.run_sync`), models bound. Auto-increment
ids are not carried: rows go back in their original order, and the target's own sequence
numbers them (explicit ids would leave a PostgreSQL sequence behind its table).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import peewee

from state.models import (
    AccountMeta, AccountRow, BaseModel, ClientKeyCounterRow, ClientKeyRow, UsageDayRow,
    UsageHourRow, VideoJobRow,
)

__all__ = ["TABLES", "clear_tables", "count_rows", "dump_rows", "load_rows"]

#: Archive name → model, in restore order. Not carried: continuations and leases (live
#: state of running servers), admin sessions (credentials of browsers), the request audit
#: (per-request detail; `usage_*` hold its sums).
TABLES: dict[str, type[BaseModel]] = {
    "accounts": AccountRow,
    "account_meta": AccountMeta,
    "client_keys": ClientKeyRow,
    "client_key_counters": ClientKeyCounterRow,
    "usage_hourly": UsageHourRow,
    "usage_daily": UsageDayRow,
    "video_jobs": VideoJobRow,
}
_BATCH = 500
_INSERT = 40  # rows per INSERT: stays under SQLite's old 999-variable limit


def _auto_id(model: type[BaseModel]) -> bool:
    return isinstance(model._meta.primary_key, peewee.AutoField)


def count_rows() -> dict[str, int]:
    return {name: model.select().count() for name, model in TABLES.items()}


def dump_rows(name: str) -> Iterator[dict[str, Any]]:
    """The rows of one table in primary-key order, a page of 500 per query."""
    model = TABLES[name]
    pk = model._meta.primary_key
    last: Any = None
    while True:
        query = model.select().order_by(pk).limit(_BATCH)
        if last is not None:
            query = query.where(pk > last)
        rows = list(query.dicts())
        if not rows:
            return
        last = rows[-1][pk.name]
        for row in rows:
            if _auto_id(model):
                row.pop(pk.name)
            if name == "client_keys":
                row["enabled"] = bool(row["enabled"])  # MySQL hands back 0/1
            yield row


def clear_tables(names: Iterable[str]) -> None:
    with AccountRow._meta.database.atomic():
        for name in reversed(list(names)):
            TABLES[name].delete().execute()


def load_rows(name: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert one table's rows (fields the model lacks are dropped, missing ones default);
    an `account_meta` row replaces the counter of the same name."""
    model = TABLES[name]
    fields = set(model._meta.fields)
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            model.insert_many(batch).execute()
            batch.clear()

    with model._meta.database.atomic():
        for row in rows:
            clean = {k: v for k, v in row.items() if k in fields}
            if _auto_id(model):
                clean.pop(model._meta.primary_key.name, None)
            if name == "account_meta":
                AccountMeta.delete().where(AccountMeta.key == clean["key"]).execute()
            batch.append(clean)
            count += 1
            if len(batch) >= _INSERT:
                flush()
        flush()
    return count
