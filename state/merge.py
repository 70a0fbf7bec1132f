"""Three-way merge of account records, so that several processes (Hypercorn workers, instances
sharing one database) can change the same accounts without clobbering each other.

A *record* is the persisted fields of an account as plain values (quota, tags and ext parsed,
no revision). Every in-memory account keeps `synced`: the record as this process last knew the
database to hold it. What this process changed is `mine` against `synced`; what the others
changed is `theirs` (the database now) against `synced`. A field only one side changed takes
that side's value. Where both changed:

* usage counters add both sides' increments (none is lost);
* a quota window takes the newer probe, less this process's spends since `synced`;
* the status (with its reason, cooldown and ext markers) goes to the more severe side
  (disabled or expired beats the traffic-made active or cooling), unless the other side is an
  operator restore made after the severe mark; between equals the newer change wins;
* a soft delete against a restore: the later of the two;
* the per-mode 429 cooldowns merge mode by mode (each side's change to a mode is kept);
* last-use / last-sync times take the later one; anything else takes this process's value.

The same function runs in the writer (on the database thread, inside the write transaction, so
the row written is merged with what is there now) and in the poller (on the event loop, when
other processes' rows come in).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from state.account import MODE_COOLDOWNS, SOURCE_ESTIMATED, TIER_MODES, QuotaWindow, now_ms

if TYPE_CHECKING:  # pragma: no cover
    from state.account import Account

__all__ = ["account_record", "apply_record", "merge_records", "record_row"]

Record = dict[str, Any]

_COUNTERS = ("usage_use_count", "usage_fail_count", "usage_sync_count")
_LATEST = ("last_use_at", "last_sync_at")
_PLAIN = ("pool", "tags", "note", "consecutive_failures")
_STATUS = ("status", "state_reason", "cooldown_until")
_STATUS_EXT = ("cooldown_until", "disabled_at", "disabled_reason", "expired_at",
               "expired_reason", "restored_at")
_SEVERE = ("disabled", "expired")
_MISSING = object()


def _copy_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def account_record(acc: Account) -> Record:
    """A detached snapshot of the persisted fields (taken on the event loop)."""
    return {
        "token": acc.token, "pool": acc.pool, "status": acc.status,
        "quota": {m: w.to_dict() for m, w in acc.quota.items()},
        "usage_use_count": acc.usage_use_count, "usage_fail_count": acc.usage_fail_count,
        "usage_sync_count": acc.usage_sync_count, "consecutive_failures": acc.consecutive_failures,
        "last_use_at": acc.last_use_at, "last_fail_at": acc.last_fail_at,
        "last_fail_reason": acc.last_fail_reason, "last_sync_at": acc.last_sync_at,
        "state_reason": acc.state_reason, "cooldown_until": acc.cooldown_until,
        "tags": list(acc.tags), "note": acc.note,
        "ext": _copy_json(acc.ext) if acc.ext else {},
        "created_at": acc.created_at, "updated_at": acc.updated_at, "deleted_at": acc.deleted_at,
    }


def record_row(rec: Record, revision: int) -> dict[str, Any]:
    """The `accounts` row (JSON columns encoded) for a record."""
    ts = now_ms()
    row = {**rec, "quota": orjson.dumps(rec["quota"]).decode(),
           "tags": orjson.dumps(rec["tags"]).decode(), "ext": orjson.dumps(rec["ext"]).decode(),
           "created_at": rec["created_at"] or ts, "updated_at": rec["updated_at"] or ts,
           "revision": revision}
    return row


def apply_record(acc: Account, rec: Record) -> None:
    """Set the persisted fields of `acc` from a record (quota modes its tier lacks dropped)."""
    supported = TIER_MODES.get(rec["pool"], frozenset())
    for name, value in rec.items():
        if name == "quota":
            acc.quota = {m: QuotaWindow.from_dict(w) for m, w in value.items() if m in supported}
        elif name in ("tags", "ext"):
            setattr(acc, name, _copy_json(value))
        elif name != "token":
            setattr(acc, name, value)


# ---------------------------------------------------------------------------- merging
def _later(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def _status_key(rec: Record) -> tuple[Any, ...]:
    ext = rec["ext"]
    return (*(rec[f] for f in _STATUS), *(ext.get(k) for k in _STATUS_EXT))


def _severe_at(rec: Record) -> int:
    ext = rec["ext"]
    return int(ext.get("disabled_at") or ext.get("expired_at") or rec["updated_at"] or 0)


def _status_side(base: Record, mine: Record, theirs: Record) -> Record:
    """Whose status group wins (see the module docstring)."""
    if _status_key(mine) == _status_key(base):
        return theirs
    if _status_key(theirs) == _status_key(base):
        return mine
    mine_severe, theirs_severe = mine["status"] in _SEVERE, theirs["status"] in _SEVERE
    if mine_severe != theirs_severe:
        severe, mild = (mine, theirs) if mine_severe else (theirs, mine)
        restored = int(mild["ext"].get("restored_at") or 0)
        return mild if restored > _severe_at(severe) else severe
    return mine if (mine["updated_at"] or 0) >= (theirs["updated_at"] or 0) else theirs


def _delete_event(rec: Record) -> int:
    """When the record was last deleted or restored (0 if never)."""
    if rec["deleted_at"] is not None:
        return int(rec["deleted_at"])
    return int(rec["ext"].get("restored_at") or 0)


def _spent(base: dict[str, Any] | None, mine: dict[str, Any]) -> int:
    """Requests this process took from the window since `base`."""
    if base is None or (base["reset_at"] is not None and mine["reset_at"] != base["reset_at"]):
        return max(0, mine["total"] - mine["remaining"])  # a new window (refilled here)
    return max(0, base["remaining"] - mine["remaining"])


def _merge_window(base: dict[str, Any] | None, mine: dict[str, Any], theirs: dict[str, Any],
                  now: int) -> dict[str, Any]:
    if (mine["synced_at"] or 0) > (theirs["synced_at"] or 0):
        return mine  # this process probed the real numbers last
    t_reset, m_reset = theirs["reset_at"], mine["reset_at"]
    if t_reset is not None and m_reset is not None and t_reset < m_reset and t_reset <= now:
        return mine  # their window is over; this process already refilled it
    spent = _spent(base, mine)
    out = dict(theirs)
    if spent:
        out["remaining"] = max(0, theirs["remaining"] - spent)
        out["source"] = SOURCE_ESTIMATED
        if out["reset_at"] is None:
            out["reset_at"] = m_reset
    return out


def _merge_quota(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any],
                 now: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in dict.fromkeys([*theirs, *mine]):
        b, m, t = base.get(mode), mine.get(mode), theirs.get(mode)
        if m == b or m is None:
            value = t if t is not None else m
        elif t == b or t is None:
            value = m
        else:
            value = _merge_window(b, m, t, now)
        if value is not None:
            out[mode] = value
    return out


def _merge_keys(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]
                ) -> dict[str, Any]:
    """Per key: this process's value where it changed it, else the database's."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys([*theirs, *mine, *base]):
        m, b = mine.get(key, _MISSING), base.get(key, _MISSING)
        value = m if m != b else theirs.get(key, _MISSING)
        if value is not _MISSING:
            out[key] = value
    return out


def _merge_ext(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any],
               status_from: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in dict.fromkeys([*theirs, *mine, *base]):
        if key in _STATUS_EXT:
            value = status_from.get(key, _MISSING)
        elif key == MODE_COOLDOWNS:  # two workers may each cool another mode meanwhile
            value = _merge_keys(base.get(key) or {}, mine.get(key) or {}, theirs.get(key) or {})
            value = value or _MISSING
        else:
            m, b = mine.get(key, _MISSING), base.get(key, _MISSING)
            value = m if m != b else theirs.get(key, _MISSING)
        if value is not _MISSING:
            out[key] = value
    return out


def merge_records(base: Record | None, mine: Record, theirs: Record,
                  now: int | None = None) -> Record:
    """The record to keep when this process holds `mine`, derived from `base`, and the
    database now holds `theirs`. Without a base (an account this process created) `mine`
    wins outright."""
    if base is None or theirs == base:
        return mine
    if mine == base:
        return theirs
    ts = now_ms() if now is None else now
    out = dict(theirs)
    for name in _PLAIN:
        if mine[name] != base[name]:
            out[name] = mine[name]
    for name in _COUNTERS:
        out[name] = max(0, theirs[name] + mine[name] - base[name])
    for name in _LATEST:
        out[name] = _later(mine[name], theirs[name])
    if mine["last_fail_at"] != base["last_fail_at"] and \
            (mine["last_fail_at"] or 0) >= (theirs["last_fail_at"] or 0):
        out["last_fail_at"], out["last_fail_reason"] = mine["last_fail_at"], mine["last_fail_reason"]
    side = _status_side(base, mine, theirs)
    for name in _STATUS:
        out[name] = side[name]
    out["ext"] = _merge_ext(base["ext"], mine["ext"], theirs["ext"], side["ext"])
    if mine["deleted_at"] != base["deleted_at"] and (
            theirs["deleted_at"] == base["deleted_at"]
            or _delete_event(mine) >= _delete_event(theirs)):
        out["deleted_at"] = mine["deleted_at"]
    out["quota"] = _merge_quota(base["quota"], mine["quota"], theirs["quota"], ts)
    out["created_at"] = min(mine["created_at"] or theirs["created_at"],
                            theirs["created_at"] or mine["created_at"])
    out["updated_at"] = max(mine["updated_at"] or 0, theirs["updated_at"] or 0)
    return out
