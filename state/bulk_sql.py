"""Many rows written by one `executemany` of plain tuples, for the write-behind's hot tables.

peewee builds the SQL of every row in Python (a node tree per value). That runs on the
database thread, but it holds the GIL meanwhile, and each time the event loop gives the GIL
up (a socket or curl call) it waits to get it back: under load, the audit rows and usage
upserts built through peewee cost the gateway more than the requests' own accounting. Here
the statement text is built once per (dialect, table, columns) and the driver binds the
tuples itself (sqlite3 and psycopg2 in C; pymysql folds an INSERT into multi-row
statements).

Upserts add increments to the row already there (`col = col + new`), so every worker and
instance adds its own share; MySQL has no `EXCLUDED` and uses `VALUES(col)` (MariaDB and
MySQL both accept it).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import peewee

__all__ = ["dialect", "execute_many", "insert_sql", "upsert_add_sql"]


def dialect(db: peewee.Database) -> str:
    """`mysql`, `postgres` or `sqlite`: what decides the statement's syntax."""
    if isinstance(db, peewee.MySQLDatabase):
        return "mysql"
    if isinstance(db, peewee.PostgresqlDatabase):
        return "postgres"
    return "sqlite"


def _quote(kind: str, name: str) -> str:
    return f"`{name}`" if kind == "mysql" else f'"{name}"'


def _param(kind: str) -> str:
    return "?" if kind == "sqlite" else "%s"


@lru_cache(maxsize=32)
def insert_sql(kind: str, table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(_quote(kind, c) for c in columns)
    marks = ", ".join([_param(kind)] * len(columns))
    return f"INSERT INTO {_quote(kind, table)} ({cols}) VALUES ({marks})"


@lru_cache(maxsize=32)
def upsert_add_sql(kind: str, table: str, columns: tuple[str, ...], conflict: tuple[str, ...],
                   add: tuple[str, ...], replace: tuple[str, ...] = ()) -> str:
    """An INSERT of `columns` that, on a row with the same `conflict` columns (a unique
    index), adds the `add` columns to the stored ones and overwrites the `replace` ones."""
    q = lambda c: _quote(kind, c)  # noqa: E731 - local shorthand
    base = insert_sql(kind, table, columns)
    if kind == "mysql":
        sets = [f"{q(c)} = {q(c)} + VALUES({q(c)})" for c in add]
        sets += [f"{q(c)} = VALUES({q(c)})" for c in replace]
        return f"{base} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    sets = [f"{q(c)} = {q(table)}.{q(c)} + excluded.{q(c)}" for c in add]
    sets += [f"{q(c)} = excluded.{q(c)}" for c in replace]
    target = ", ".join(q(c) for c in conflict)
    return f"{base} ON CONFLICT ({target}) DO UPDATE SET {', '.join(sets)}"


def execute_many(db: peewee.Database, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """On the database thread, inside the caller's transaction (same connection)."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return
    cursor = db.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
