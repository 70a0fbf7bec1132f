"""Named leases in the account database: one holder per name among the instances that share
a PostgreSQL or MySQL database (the Redis lease does the same when Redis is configured).

Synchronous; run on the database thread. A lease is taken when free or expired, renewed by
its holder, and released by deleting the holder's row."""
from __future__ import annotations

import peewee

from state.account import now_ms
from state.models import LeaseRow

__all__ = ["release_lease", "try_lease"]


def try_lease(db: peewee.Database, name: str, holder: str, ttl_ms: int,
              now: int | None = None) -> bool:
    """Take or renew `name` for `ttl_ms`; False while another holder's lease is unexpired."""
    ts = now_ms() if now is None else now
    with db.atomic():
        (LeaseRow.update(holder=holder, expires_at=ts + ttl_ms)
         .where((LeaseRow.name == name)
                & ((LeaseRow.holder == holder) | (LeaseRow.expires_at <= ts)))
         .execute())
        row = LeaseRow.get_or_none(LeaseRow.name == name)
        if row is not None:
            return row.holder == holder and row.expires_at > ts
    try:
        with db.atomic():
            LeaseRow.create(name=name, holder=holder, expires_at=ts + ttl_ms)
        return True
    except peewee.IntegrityError:  # another instance created it at the same moment
        row = LeaseRow.get_or_none(LeaseRow.name == name)
        return row is not None and row.holder == holder and row.expires_at > ts


def release_lease(db: peewee.Database, name: str, holder: str) -> None:
    """Give `name` up at once (if `holder` holds it), so a follower need not wait the TTL."""
    LeaseRow.delete().where((LeaseRow.name == name) & (LeaseRow.holder == holder)).execute()
