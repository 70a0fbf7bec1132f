"""The database side of the admin pages' browser sessions (`admin_sessions`). Every function
runs on the database thread (`DBThread.run`). The cookie value never reaches the database:
rows are found by its SHA-256, so a leaked table opens nothing."""
from __future__ import annotations

from dataclasses import dataclass

from state.models import AdminSessionRow

__all__ = ["StoredSession", "delete_expired", "delete_session", "find_session", "insert_session"]


@dataclass(frozen=True, slots=True)
class StoredSession:
    id_hash: str
    csrf: str
    key_fp: str
    address: str
    created_at: int
    expires_at: int


def insert_session(session: StoredSession) -> None:
    AdminSessionRow.create(id_hash=session.id_hash, csrf=session.csrf, key_fp=session.key_fp,
                           address=session.address[:64], created_at=session.created_at,
                           expires_at=session.expires_at)


def find_session(id_hash: str) -> StoredSession | None:
    row = AdminSessionRow.get_or_none(AdminSessionRow.id_hash == id_hash)
    if row is None:
        return None
    return StoredSession(row.id_hash, row.csrf, row.key_fp, row.address, int(row.created_at),
                         int(row.expires_at))


def delete_session(id_hash: str) -> None:
    AdminSessionRow.delete().where(AdminSessionRow.id_hash == id_hash).execute()


def delete_expired(now_ms: int) -> int:
    return AdminSessionRow.delete().where(AdminSessionRow.expires_at <= now_ms).execute()
