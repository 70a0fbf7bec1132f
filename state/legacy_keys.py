"""The fork's API keys (`data/api_keys.json`, api-surface §1.5) as today's managed client keys.

A fork key record is `{key, name, created_at, is_active, chat_limit, heavy_limit, image_limit,
video_limit}` (limits per day, -1 unlimited); the file holds a list of them (or an object with
a `keys` list, or an object keyed by the key). Today's key stores only the SHA-256 of the
value, so the key keeps working for the clients that hold it, with the same daily limits
(`limits.<kind>_per_day`) and its name. The fork's daily usage file is not carried over: its
days are counted in UTC+8, today's in UTC, so the counters start again at zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from state.keys import KeyRecord
from state.keys_input import KeyInputError, new_record

__all__ = ["ForkKeys", "read_api_keys"]

_FIELDS = ("key", "name", "is_active", "chat_limit", "heavy_limit", "image_limit", "video_limit")


@dataclass(slots=True)
class ForkKeys:
    records: list[KeyRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _items(data: Any) -> list[tuple[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("keys"), list):
        data = data["keys"]
    if isinstance(data, list):
        return [(f"[{i}]", item) for i, item in enumerate(data)]
    if isinstance(data, dict):  # keyed by the key itself
        return [(f"[{i}]", {**item, "key": key} if isinstance(item, dict) else item)
                for i, (key, item) in enumerate(data.items())]
    return []


def read_api_keys(data: Any, source: str = "api_keys.json") -> ForkKeys:
    """Today's key records for the fork's; a bad record is reported by its position and name,
    never by its key."""
    out = ForkKeys()
    items = _items(data)
    if not items and data not in ([], {}):
        out.problems.append(f"{source}: expected a list of key records")
    for where, item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) \
                or not item["key"].strip():
            out.problems.append(f"{source}{where}: a key record needs a \"key\"")
            continue
        body = {k: item[k] for k in _FIELDS if k in item}
        body["key"] = item["key"].strip()
        if isinstance(body.get("is_active"), int) and not isinstance(body["is_active"], bool):
            body["is_active"] = bool(body["is_active"])
        try:
            record, _ = new_record(body)
        except KeyInputError as exc:
            name = str(item.get("name") or "")[:40]
            out.problems.append(f"{source}{where} {name!r}: {exc.message}")
            continue
        created = item.get("created_at")
        if isinstance(created, (int, float)) and created > 0:
            ms = int(created if created > 1e11 else created * 1000)
            record = record.with_changes(created_at=ms, updated_at=ms)
        out.records.append(record)
    return out
