"""Account persistence. Every method is synchronous and must run on the database thread
(`DBThread.run` / `run_sync`), which binds the models to the database."""
from __future__ import annotations

import builtins
import collections
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import peewee

from state.account import POOLS, Account, QuotaWindow, now_ms
from state.bulk_sql import dialect, execute_many, upsert_add_sql
from state.merge import Record, account_record, merge_records, record_row
from state.models import AccountMeta, AccountRow

__all__ = ["AccountStore", "ImportSummary", "account_to_row", "row_to_account"]

_ROW_FIELDS = tuple(f for f in AccountRow._meta.sorted_field_names if f != "id")
#: what an upsert overwrites on a row already there (an account keeps its creation time)
_REPLACED = tuple(f for f in _ROW_FIELDS if f not in ("token", "created_at"))
_IN_CHUNK = 500


@functools.cache
def _row_tuple() -> type:
    """A named tuple of the accounts table's columns in `select()` order, made once (peewee's
    `namedtuples()` makes a new class for every query)."""
    return collections.namedtuple("AccountTuple", AccountRow._meta.sorted_field_names)


def account_to_row(acc: Account) -> dict[str, Any]:
    """A plain dict snapshot of the persistent fields (taken on the event loop)."""
    return record_row(account_record(acc), acc.revision)


def _json(text: str | None, default: Any) -> Any:
    try:
        value = orjson.loads(text) if text else default
    except orjson.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def row_to_account(row: Any) -> Account:
    """`row`: a model instance or a named tuple of its fields."""
    quota = {m: QuotaWindow.from_dict(w) for m, w in _json(row.quota, {}).items()
             if isinstance(w, dict)}
    acc = Account(
        token=row.token, pool=row.pool if row.pool in POOLS else "basic", status=row.status,
        quota=quota, usage_use_count=row.usage_use_count, usage_fail_count=row.usage_fail_count,
        usage_sync_count=row.usage_sync_count, consecutive_failures=row.consecutive_failures,
        last_use_at=row.last_use_at, last_fail_at=row.last_fail_at,
        last_fail_reason=row.last_fail_reason or "", last_sync_at=row.last_sync_at,
        state_reason=row.state_reason or "", cooldown_until=row.cooldown_until,
        tags=[str(t) for t in _json(row.tags, [])], note=row.note or "", ext=_json(row.ext, {}),
        created_at=row.created_at, updated_at=row.updated_at, deleted_at=row.deleted_at,
        revision=row.revision,
    )
    for mode in list(acc.quota):
        if not acc.supports(mode):
            del acc.quota[mode]
    acc.synced = account_record(acc)
    return acc


@dataclass(slots=True)
class ImportSummary:
    added: int = 0
    restored: int = 0
    skipped: int = 0


class AccountStore:
    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self._sqlite = isinstance(db, peewee.SqliteDatabase)

    def _write_tx(self) -> Any:
        """A write transaction. SQLite takes the write lock at BEGIN (several processes on one
        file wait for it through busy_timeout instead of failing on a stale read snapshot);
        elsewhere the revision row bumped first serialises the writers."""
        return self.db.atomic(lock_type="IMMEDIATE") if self._sqlite else self.db.atomic()

    # ------------------------------------------------------------------ reading
    def load_all(self) -> list[Account]:
        """Every account, soft-deleted ones included (the pool needs them to restore)."""
        return [row_to_account(r) for r in AccountRow.select().order_by(AccountRow.id)]

    def get(self, token: str) -> Account | None:
        row = AccountRow.get_or_none(AccountRow.token == token)
        return None if row is None else row_to_account(row)

    def list(self, pool: str | None = None, status: str | None = None, *,
             include_deleted: bool = False) -> list[Account]:
        query = AccountRow.select().order_by(AccountRow.id)
        if pool:
            query = query.where(AccountRow.pool == pool)
        if status:
            query = query.where(AccountRow.status == status)
        if not include_deleted:
            query = query.where(AccountRow.deleted_at.is_null())
        return [row_to_account(r) for r in query]

    def revision(self) -> int:
        """The global revision; it grows with every write (multi-worker sync polls it)."""
        return int(AccountMeta.select(AccountMeta.value)
                   .where(AccountMeta.key == "revision").scalar() or 0)

    def load_since(self, revision: int) -> builtins.list[Account]:
        """Accounts written after `revision` (by any process)."""
        query = AccountRow.select().where(AccountRow.revision > revision).order_by(AccountRow.id)
        return [row_to_account(r) for r in query]

    # ------------------------------------------------------------------ writing
    def _bump_revision(self) -> int:
        updated = (AccountMeta.update(value=AccountMeta.value + 1)
                   .where(AccountMeta.key == "revision").execute())
        if not updated:
            AccountMeta.create(key="revision", value=1)
        return self.revision()

    def _upsert_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows of every persisted field, in one `executemany` (bulk_sql.py: peewee would
        build each row's SQL in Python while holding the GIL, on every write-behind save)."""
        sql = upsert_add_sql(dialect(self.db), AccountRow._meta.table_name, _ROW_FIELDS,
                             ("token",), (), _REPLACED)
        execute_many(self.db, sql, [tuple(row[f] for f in _ROW_FIELDS) for row in rows])

    def write_batch(self, rows: Sequence[dict[str, Any]]) -> int:
        """Upsert account snapshots in ONE transaction.
        Returns the revision the rows were written under."""
        with self._write_tx():
            revision = self._bump_revision() if rows else self.revision()
            if rows:
                self._upsert_rows([{**r, "revision": revision} for r in rows])
        return revision

    def write_merged(self, items: Sequence[tuple[Record | None, Record]]) -> int:
        """The write-behind's save: each item is (synced, mine) of one account; the row written
        is `mine` three-way merged with the row the database holds now (`state.merge`), so
        another process's newer status or counters are not clobbered. One transaction;
        returns its revision."""
        with self._write_tx():
            if not items:
                revision = self.revision()
            else:
                revision = self._bump_revision()  # taken first: serialises the writers
                current: dict[str, Record] = {}
                tokens = [mine["token"] for base, mine in items if base is not None]
                for chunk in peewee.chunked(tokens, _IN_CHUNK):
                    query = AccountRow.select().where(AccountRow.token.in_(chunk))
                    if not self._sqlite:
                        query = query.for_update()
                    # named tuples: no model instance per row
                    current.update({r.token: account_record(row_to_account(r))
                                    for r in map(_row_tuple()._make, query.tuples())})
                ts = now_ms()
                rows = []
                for base, mine in items:
                    theirs = current.get(mine["token"])
                    merged = mine if theirs is None else merge_records(base, mine, theirs, ts)
                    rows.append(record_row(merged, revision))
                self._upsert_rows(rows)
        return revision

    def save(self, accounts: Iterable[Account]) -> int:
        accs = list(accounts)
        revision = self.write_batch([account_to_row(a) for a in accs])
        for acc in accs:
            acc.revision = revision
        return revision

    def import_tokens(self, items: Iterable[tuple[str, str | None, Sequence[str]]], *,
                      default_pool: str = "basic", note: str = "") -> ImportSummary:
        """Add new tokens, restore soft-deleted ones, skip live ones (untouched).
        `items` are (normalised token, pool or None for `default_pool`, tags)."""
        wanted: dict[str, tuple[str, list[str]]] = {}
        for token, pool, tags in items:
            wanted.setdefault(token, (pool or default_pool, list(tags)))
        summary = ImportSummary()
        ts = now_ms()
        with self._write_tx():
            existing: dict[str, AccountRow] = {}
            for chunk in peewee.chunked(list(wanted), _IN_CHUNK):
                existing.update({r.token: r for r in AccountRow.select().where(AccountRow.token.in_(chunk))})
            to_save: list[Account] = []
            for token, (pool, tags) in wanted.items():
                row = existing.get(token)
                if row is None:
                    to_save.append(Account.new(token, pool, tags, note, ts))
                    summary.added += 1
                elif row.deleted_at is not None:
                    acc = row_to_account(row)
                    acc.restore(ts)
                    acc.set_pool(pool)
                    acc.tags = list(dict.fromkeys([*acc.tags, *tags]))
                    to_save.append(acc)
                    summary.restored += 1
                else:
                    summary.skipped += 1
            if to_save:
                self.save(to_save)
        return summary

    def delete(self, tokens: Iterable[str]) -> int:
        """Soft delete; returns how many live accounts were deleted."""
        toks = list(dict.fromkeys(tokens))
        if not toks:
            return 0
        ts, count = now_ms(), 0
        with self._write_tx():
            revision = self._bump_revision()
            for chunk in peewee.chunked(toks, _IN_CHUNK):
                count += (AccountRow.update(deleted_at=ts, updated_at=ts, revision=revision)
                          .where(AccountRow.token.in_(chunk), AccountRow.deleted_at.is_null())
                          .execute())
        return count

    def invalid_tokens(self) -> builtins.list[str]:
        """Live accounts whose status is expired or disabled (the UI's "invalid")."""
        query = (AccountRow.select(AccountRow.token)
                 .where(AccountRow.status.in_(("expired", "disabled")),
                        AccountRow.deleted_at.is_null()))
        return [r.token for r in query]
