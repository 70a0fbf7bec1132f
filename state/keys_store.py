"""The database side of the client keys: the `client_keys` table and the shared counters of
`client_key_counters`. Every function runs on the database thread (`DBThread.run`), never on
the event loop; each write of a key bumps the keys' revision (`account_meta.keys_revision`)
in the same transaction, which every process polls to reload its copy."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import peewee

from state import bulk_sql
from state.keys import KeyPolicy, KeyRecord, now_ms
from state.models import AccountMeta, ClientKeyCounterRow, ClientKeyRow

__all__ = ["COUNTER_FIELDS", "DuplicateKey", "add_counters", "delete_keys", "insert_keys",
           "keys_revision", "load_keys", "prune_counters", "read_counters", "touch_last_used",
           "update_key"]

#: The counters of one (key, bucket), in this order everywhere (memory, Redis, database).
COUNTER_FIELDS: tuple[str, ...] = ("requests", "chat", "heavy", "image", "video", "tokens")
REVISION = "keys_revision"


class DuplicateKey(ValueError):
    """A key with the same value (hash) already exists."""


def keys_revision() -> int:
    value = (AccountMeta.select(AccountMeta.value)
             .where(AccountMeta.key == REVISION).scalar())
    return int(value or 0)


def _bump() -> int:
    """The next revision (inside the caller's transaction)."""
    updated = (AccountMeta.update(value=AccountMeta.value + 1)
               .where(AccountMeta.key == REVISION).execute())
    if not updated:
        AccountMeta.create(key=REVISION, value=1)
    return keys_revision()


def _record(row: ClientKeyRow) -> KeyRecord:
    return KeyRecord(id=row.id, name=row.name, key_hash=row.key_hash,
                     display_key=row.display_key, enabled=bool(row.enabled),
                     policy=KeyPolicy.from_json(row.policy), created_at=int(row.created_at),
                     updated_at=int(row.updated_at),
                     last_used_at=None if row.last_used_at is None else int(row.last_used_at),
                     expires_at=None if row.expires_at is None else int(row.expires_at),
                     revision=int(row.revision))


def _row(rec: KeyRecord) -> dict[str, object]:
    return {"id": rec.id, "name": rec.name, "key_hash": rec.key_hash,
            "display_key": rec.display_key, "enabled": rec.enabled,
            "policy": rec.policy.to_json(), "created_at": rec.created_at,
            "updated_at": rec.updated_at, "last_used_at": rec.last_used_at,
            "expires_at": rec.expires_at, "revision": rec.revision}


def load_keys() -> tuple[int, list[KeyRecord]]:
    """The revision and every key, oldest first, read in one transaction."""
    db = ClientKeyRow._meta.database
    with db.atomic():
        revision = keys_revision()
        rows = list(ClientKeyRow.select().order_by(ClientKeyRow.created_at, ClientKeyRow.id))
    return revision, [_record(r) for r in rows]


def insert_keys(records: Sequence[KeyRecord]) -> list[KeyRecord]:
    """Insert new keys, all or none: `DuplicateKey` if one's value already exists."""
    db = ClientKeyRow._meta.database
    hashes = [r.key_hash for r in records]
    if len(set(hashes)) != len(hashes):
        raise DuplicateKey("the same key is given twice")
    with db.atomic():
        if ClientKeyRow.select().where(ClientKeyRow.key_hash.in_(hashes)).exists():
            raise DuplicateKey("a key with this value already exists")
        revision = _bump()
        stored = [r.with_changes(revision=revision) for r in records]
        try:
            for i in range(0, len(stored), 100):
                ClientKeyRow.insert_many([_row(r) for r in stored[i:i + 100]]).execute()
        except peewee.IntegrityError:
            raise DuplicateKey("a key with this value already exists") from None
    return stored


def update_key(record: KeyRecord) -> KeyRecord | None:
    """Save every field of an existing key; None if it is gone."""
    db = ClientKeyRow._meta.database
    with db.atomic():
        revision = _bump()
        stored = record.with_changes(revision=revision, updated_at=now_ms())
        row = _row(stored)
        row.pop("id")
        row.pop("last_used_at")  # written behind by the serving processes
        if not ClientKeyRow.update(**row).where(ClientKeyRow.id == record.id).execute():
            return None
    return stored


def set_enabled(ids: Sequence[str], enabled: bool) -> int:
    db = ClientKeyRow._meta.database
    with db.atomic():
        revision = _bump()
        return (ClientKeyRow.update(enabled=enabled, revision=revision, updated_at=now_ms())
                .where(ClientKeyRow.id.in_(list(ids))).execute())


def delete_keys(ids: Sequence[str]) -> int:
    db = ClientKeyRow._meta.database
    with db.atomic():
        _bump()
        gone = ClientKeyRow.delete().where(ClientKeyRow.id.in_(list(ids))).execute()
        ClientKeyCounterRow.delete().where(ClientKeyCounterRow.key_id.in_(list(ids))).execute()
    return gone


def touch_last_used(used: dict[str, int]) -> None:
    """`last_used_at` of the keys used (coarse, behind the request path). The revision is
    not bumped: nobody reloads keys for a time stamp."""
    for key_id, at in used.items():
        (ClientKeyRow.update(last_used_at=at)
         .where((ClientKeyRow.id == key_id)
                & ((ClientKeyRow.last_used_at.is_null()) | (ClientKeyRow.last_used_at < at)))
         .execute())


# ---------------------------------------------------------------------- shared counters
Bucket = tuple[str, str]  # (key id, bucket name)


def add_counters(deltas: dict[Bucket, list[int]], expires: dict[Bucket, int]) -> None:
    """Add this process's increments to the shared rows (created on first use): one upsert
    statement for all (`state.bulk_sql`; the sync runs every second, and peewee building a
    statement per row held the GIL the event loop needs). A row's expiry moves to the
    latest write's."""
    rows = [(key_id, bucket, expires[(key_id, bucket)], *values)
            for (key_id, bucket), values in deltas.items() if any(values)]
    if not rows:
        return
    db = ClientKeyCounterRow._meta.database
    sql = bulk_sql.upsert_add_sql(bulk_sql.dialect(db), ClientKeyCounterRow._meta.table_name,
                                  ("key_id", "bucket", "expires_at", *COUNTER_FIELDS),
                                  ("key_id", "bucket"), COUNTER_FIELDS, ("expires_at",))
    with db.atomic():
        bulk_sql.execute_many(db, sql, rows)


def read_counters(key_ids: Iterable[str], buckets: Iterable[str]) -> dict[Bucket, list[int]]:
    ids, names = list(key_ids), list(buckets)
    if not ids or not names:
        return {}
    out: dict[Bucket, list[int]] = {}
    columns = [getattr(ClientKeyCounterRow, f) for f in COUNTER_FIELDS]
    for i in range(0, len(ids), 500):
        query = (ClientKeyCounterRow
                 .select(ClientKeyCounterRow.key_id, ClientKeyCounterRow.bucket, *columns)
                 .where(ClientKeyCounterRow.key_id.in_(ids[i:i + 500])
                        & ClientKeyCounterRow.bucket.in_(names))
                 .tuples())  # no model object per row
        for key_id, bucket, *values in query:
            out[(key_id, bucket)] = [int(v) for v in values]
    return out


def prune_counters(now: int) -> int:
    return ClientKeyCounterRow.delete().where(ClientKeyCounterRow.expires_at < now).execute()
