"""Numbered schema migrations, applied in order at startup (and by the CLI).

`MIGRATIONS[i]` brings the schema from version i to i + 1. Append, never edit a shipped one.
Each runs in a transaction with its version row (MySQL commits DDL implicitly, so every step
must also be safe to re-run: `safe=True` creates)."""
from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable

import peewee

from state.models import (
    AccountMeta, AccountRow, AdminSessionRow, ClientKeyCounterRow, ClientKeyRow, ContinuationRow, LeaseRow,
    ModelUsageRow, RequestAuditRow, SchemaVersion, UsageDayRow, UsageHourRow, VideoJobRow,
    bound,
)

__all__ = ["MIGRATIONS", "current_version", "latest_version", "migrate"]

log = logging.getLogger(__name__)
Migration = Callable[[peewee.Database], None]


def _m1_initial(db: peewee.Database) -> None:
    db.create_tables([AccountRow, ModelUsageRow, AccountMeta], safe=True)
    if not AccountMeta.select().where(AccountMeta.key == "revision").exists():
        AccountMeta.create(key="revision", value=0)


def _m2_continuations(db: peewee.Database) -> None:
    """Responses continuation (`previous_response_id` → upstream conversation)."""
    db.create_tables([ContinuationRow], safe=True)


def _m3_leases(db: peewee.Database) -> None:
    """Named leases (one quota scheduler among instances sharing the database)."""
    db.create_tables([LeaseRow], safe=True)


def _m4_video_jobs(db: peewee.Database) -> None:
    """`/v1/videos` jobs (seen by every worker and instance sharing the database)."""
    db.create_tables([VideoJobRow], safe=True)


def _m_usage_audit(db: peewee.Database) -> None:
    """Usage per hour and per day (client key, model, endpoint, tier) and the request audit
    log (`state.usage_book`). The per-model daily counters of `model_usage` are the same
    facts with less detail: their history moves into `usage_daily` (key `history`, no
    endpoint or tier) and the table goes, so one ledger remains."""
    db.create_tables([UsageHourRow, UsageDayRow, RequestAuditRow], safe=True)
    if not db.table_exists(ModelUsageRow._meta.table_name):
        return
    rows = []
    for old in ModelUsageRow.select():
        try:
            day = calendar.timegm(time.strptime(old.day, "%Y-%m-%d"))
        except ValueError:
            continue
        rows.append({"bucket": day, "key": "history", "key_name": "history",
                     "model": old.model[:128], "endpoint": "", "tier": "",
                     "requests": old.requests, "failures": old.failures,
                     "prompt_tokens": old.prompt_tokens,
                     "completion_tokens": old.completion_tokens})
    for chunk in peewee.chunked(rows, 100):
        # ignored when present: a re-run (MySQL commits DDL implicitly) adds nothing twice
        UsageDayRow.insert_many(chunk).on_conflict_ignore().execute()
    db.drop_tables([ModelUsageRow], safe=True)


def _m_client_keys(db: peewee.Database) -> None:
    """Managed client keys (hash only) and their shared usage counters."""
    db.create_tables([ClientKeyRow, ClientKeyCounterRow], safe=True)
    if not AccountMeta.select().where(AccountMeta.key == "keys_revision").exists():
        AccountMeta.create(key="keys_revision", value=0)


def _m_admin_sessions(db: peewee.Database) -> None:
    """Browser sessions of the admin pages, shared by every worker and instance."""
    db.create_tables([AdminSessionRow], safe=True)


MIGRATIONS: list[Migration] = [_m1_initial, _m2_continuations, _m3_leases, _m4_video_jobs,
                               _m_usage_audit, _m_client_keys, _m_admin_sessions]


def latest_version() -> int:
    return len(MIGRATIONS)


def current_version(db: peewee.Database) -> int:
    """The applied schema version; 0 for an empty database."""
    with bound(db):
        if not db.table_exists(SchemaVersion._meta.table_name):
            return 0
        value = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
        return int(value or 0)


def migrate(db: peewee.Database) -> int:
    """Apply every pending migration; idempotent. Returns the resulting version."""
    with bound(db):
        db.create_tables([SchemaVersion], safe=True)
        version = current_version(db)
        for number in range(version + 1, len(MIGRATIONS) + 1):
            try:
                with db.atomic():
                    MIGRATIONS[number - 1](db)
                    SchemaVersion.create(version=number, applied_at=int(time.time() * 1000))
            except peewee.IntegrityError:
                # another worker applied the same step at the same moment
                if current_version(db) < number:
                    raise
            log.info("database schema migrated to version %d", number)
        return current_version(db)
