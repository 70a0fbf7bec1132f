"""First start on a server database: take over the accounts of the local SQLite file.

When `DATABASE_URL` names PostgreSQL or MySQL, its accounts table is empty and
`${DATA_DIR}/accounts.db` exists, every account (quota windows, counters, soft deletes) is
copied in one transaction and the file is renamed `accounts.db.migrated`, so the copy runs
once. Several workers starting together are safe: the revision row bumped first serialises
them, and whoever finds accounts already there copies nothing."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import peewee

from state.db import open_sqlite
from state.models import AccountRow, bound
from state.store import AccountStore

__all__ = ["MIGRATED_SUFFIX", "import_local_accounts"]

log = logging.getLogger(__name__)

MIGRATED_SUFFIX = ".migrated"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    source = open_sqlite(path)
    try:
        with bound(source):
            if not source.table_exists(AccountRow._meta.table_name):
                return []
            rows = list(AccountRow.select().order_by(AccountRow.id).dicts())
    finally:
        source.close()
    for row in rows:
        row.pop("id", None)
    return rows


def import_local_accounts(db: peewee.Database, path: Path | str) -> int:
    """Run on the database thread (models bound to `db`, the server database). Returns how
    many accounts were copied; 0 when there was nothing to do."""
    path = Path(path)
    if not path.is_file() or AccountRow.select().exists():
        return 0
    rows = _read_rows(path)
    store = AccountStore(db)
    with db.atomic() as tx:
        revision = store._bump_revision()  # taken first: a second worker waits here
        if AccountRow.select().exists():
            tx.rollback()
            return 0
        if rows:
            store._upsert_rows([{**row, "revision": revision} for row in rows])
    try:
        path.rename(path.with_name(path.name + MIGRATED_SUFFIX))
    except FileNotFoundError:  # another worker on this host renamed it
        pass
    log.info("copied %d accounts from %s to the database; the file is now %s%s",
             len(rows), path, path.name, MIGRATED_SUFFIX)
    return len(rows)
