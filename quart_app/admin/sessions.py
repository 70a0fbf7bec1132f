"""Browser sessions of the admin pages: the admin secret is typed once, at `/admin/login`, and
the browser then holds only a random session id in an `HttpOnly`, `SameSite=Strict` cookie
(`Secure` when the request came over https, directly or through a proxy that says so).

* Rows live in the database (`state.admin_sessions`), so every worker and instance knows a
  session, and logout ends it everywhere at once.
* A session remembers a fingerprint of the secret it was opened with: changing `app.app_key`
  ends every session (the holder of the old secret is out).
* Each session has its own CSRF token. Every state-changing call made with the cookie must
  repeat it in `X-CSRF-Token`; the pages read it from the page they were served with.
  Scripts that send the secret itself (Bearer, `?app_key=`) need none: nothing sends those
  for them.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from state.admin_sessions import (
    StoredSession, delete_expired, delete_session, find_session, insert_session,
)
from state.dbthread import DBThread
from state.options import Loader

__all__ = ["COOKIE", "CSRF_HEADER", "AdminSessions", "Session", "is_https", "load"]

log = logging.getLogger(__name__)

COOKIE = "grok2api_admin"
CSRF_HEADER = "X-CSRF-Token"
#: Expired rows are deleted at most this often (by whichever call comes next).
PRUNE_EVERY_SEC = 600


def load(loader: Loader) -> None:
    loader.add_option("admin.session_hours", int, 12,
                      "How long an admin page login lasts (hours); logging out, or changing "
                      "app.app_key, ends it sooner.", check=_positive)


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


def key_fingerprint(secret: str) -> str:
    """What a session remembers of the secret: enough to notice a change, useless to guess it."""
    return hmac.new(b"grok2api admin session", secret.encode(), hashlib.sha256).hexdigest()


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def is_https(headers: Mapping[str, str], scheme: str) -> bool:
    """Whether the browser reached us over https: the connection's own scheme, or what the
    proxy in front says (Render's and nginx's set `X-Forwarded-Proto`)."""
    forwarded = (headers.get("x-forwarded-proto") or "").split(",", 1)[0].strip().lower()
    return scheme == "https" or forwarded == "https"


@dataclass(frozen=True, slots=True)
class Session:
    """A live session as a request sees it."""

    id: str
    csrf: str
    expires_at: int  # ms

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class AdminSessions:
    def __init__(self, thread: DBThread, settings: Any) -> None:
        self._thread = thread
        self._settings = settings
        self._pruned_at = 0.0

    async def open(self, secret: str, address: str) -> Session:
        """A new session for the holder of `secret` (already checked by the caller)."""
        now = int(time.time() * 1000)
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = now + self._settings.options.admin.session_hours * 3_600_000
        await self._thread.run(insert_session, StoredSession(
            _hash(session_id), csrf, key_fingerprint(secret), address, now, expires))
        await self._prune(now)
        return Session(session_id, csrf, expires)

    async def find(self, session_id: str | None, secret: str) -> Session | None:
        """The live session behind a cookie value; None when unknown, expired, or opened
        with another secret than today's."""
        if not session_id or len(session_id) > 128 or not secret:
            return None
        stored = await self._thread.run(find_session, _hash(session_id))
        if stored is None or stored.expires_at <= time.time() * 1000:
            return None
        if not hmac.compare_digest(stored.key_fp, key_fingerprint(secret)):
            return None
        return Session(session_id, stored.csrf, stored.expires_at)

    async def close(self, session_id: str) -> None:
        await self._thread.run(delete_session, _hash(session_id))

    async def _prune(self, now_ms: int) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SEC:
            return
        self._pruned_at = time.monotonic()
        removed = await self._thread.run(delete_expired, now_ms)
        if removed:
            log.info("admin: %d expired page sessions removed", removed)
