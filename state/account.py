"""In-memory account records, tier quota defaults, token normalisation and the pure state
transitions the pool applies (no I/O here; times are integer milliseconds)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONSOLE_MODE",
    "CONSOLE_TAG",
    "MODES",
    "PERSISTED_FIELDS",
    "POOLS",
    "MODE_COOLDOWNS",
    "SOURCE_DEFAULT",
    "SOURCE_ESTIMATED",
    "SOURCE_REAL",
    "STATUSES",
    "TIER_DEFAULTS",
    "TIER_MODES",
    "Account",
    "QuotaWindow",
    "default_quota",
    "token_label",
    "normalize_token",
    "now_ms",
]

POOLS: tuple[str, ...] = ("basic", "super", "heavy")
STATUSES: tuple[str, ...] = ("active", "cooling", "expired", "disabled")
MODES: tuple[str, ...] = ("auto", "fast", "expert", "heavy", "grok-420-computer-use-sa")
#: The quota mode of the xAI console (console-and-voice §4), open to the accounts of any tier
#: that carry `CONSOLE_TAG`: an operator says which accounts may use the console (the
#: console itself is never probed). Kept out of `MODES` and `TIER_MODES`: grok.com's
#: rate-limit probe knows nothing of it, and the selection index stays the web's alone.
CONSOLE_MODE = "console"
CONSOLE_TAG = "console"
#: the console's chat window as assumed until a usage sync says more (C3 gives no reset)
CONSOLE_DEFAULT: tuple[int, int] = (1000, 86400)
SOURCE_DEFAULT, SOURCE_REAL, SOURCE_ESTIMATED = 0, 1, 2
#: `ext` key of the per-mode cooldowns a chat 429 starts: mode -> {"until": ms, "strikes": the
#: 429s of that mode since its last success, "confirmed": a probe or the strategy fixed the
#: end}. Kept in `ext` so it is saved and merged with the rest of the record.
MODE_COOLDOWNS = "mode_cooldowns"

#: (total, window seconds) per mode and tier, as grok.com grants them.
TIER_DEFAULTS: dict[str, dict[str, tuple[int, int]]] = {
    "basic": {"fast": (30, 86400)},
    "super": {"auto": (50, 7200), "fast": (140, 7200), "expert": (50, 7200),
              "grok-420-computer-use-sa": (50, 7200)},
    "heavy": {"auto": (150, 7200), "fast": (400, 7200), "expert": (150, 7200), "heavy": (20, 7200),
              "grok-420-computer-use-sa": (150, 7200)},
}
TIER_MODES: dict[str, frozenset[str]] = {p: frozenset(m) for p, m in TIER_DEFAULTS.items()}
BASIC_FAST_CAP: tuple[int, int] = (30, 86400)

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_INVISIBLE = "\u00a0\u2007\u202f\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"
TOKEN_TRANSLATION = {**{ord(c): "-" for c in _DASHES}, **{ord(c): None for c in _INVISIBLE}}


def now_ms() -> int:
    return int(time.time() * 1000)


def to_ms(seconds_or_ms: float) -> int:
    """Epoch seconds (what `time.time()` gives) → ms; values already in ms pass through."""
    return int(seconds_or_ms if seconds_or_ms > 1e11 else seconds_or_ms * 1000)


def token_label(token: str) -> str:
    """`abcd…wxyz`: enough to tell accounts apart in a table, useless as a credential."""
    return f"{token[:4]}…{token[-4:]}" if len(token) > 12 else "…" + token[-2:]


def normalize_token(raw: str) -> str:
    """An SSO token as pasted → the cookie value. Raises ValueError if empty."""
    text = raw.translate(TOKEN_TRANSLATION)
    text = "".join(text.split())
    if text[:4].lower() == "sso=":
        text = text[4:]
    text = text.encode("ascii", "ignore").decode("ascii")
    if not text:
        raise ValueError("empty token")
    return text


@dataclass(slots=True)
class QuotaWindow:
    remaining: int
    total: int
    window_seconds: int
    reset_at: int | None = None  # ms
    synced_at: int | None = None  # ms
    source: int = SOURCE_DEFAULT

    def refill_if_due(self, now: int) -> bool:
        """A window whose reset time passed is full again (estimated until the next sync)."""
        if self.reset_at is None or now < self.reset_at:
            return False
        self.remaining = self.total
        self.reset_at = None
        if self.source == SOURCE_REAL:
            self.source = SOURCE_ESTIMATED
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"remaining": self.remaining, "total": self.total,
                "window_seconds": self.window_seconds, "reset_at": self.reset_at,
                "synced_at": self.synced_at, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuotaWindow:
        def opt(v: Any) -> int | None:
            return None if v is None else int(v)

        return cls(int(data.get("remaining", 0)), int(data.get("total", 0)),
                   int(data.get("window_seconds", 7200)), opt(data.get("reset_at")),
                   opt(data.get("synced_at")), int(data.get("source", SOURCE_DEFAULT)))


def default_window(pool: str, mode: str) -> QuotaWindow:
    total, window = CONSOLE_DEFAULT if mode == CONSOLE_MODE else TIER_DEFAULTS[pool][mode]
    return QuotaWindow(total, total, window)


def default_quota(pool: str) -> dict[str, QuotaWindow]:
    return {mode: default_window(pool, mode) for mode in TIER_DEFAULTS[pool]}


@dataclass(slots=True)
class Account:
    token: str
    pool: str = "basic"
    status: str = "active"
    quota: dict[str, QuotaWindow] = field(default_factory=dict)
    usage_use_count: int = 0
    usage_fail_count: int = 0
    usage_sync_count: int = 0
    consecutive_failures: int = 0
    last_use_at: int | None = None
    last_fail_at: int | None = None
    last_fail_reason: str = ""
    last_sync_at: int | None = None
    state_reason: str = ""
    cooldown_until: int | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""
    ext: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    deleted_at: int | None = None
    revision: int = 0
    # runtime only (per process, never persisted)
    #: Leases of this process on the account.
    local_inflight: int = 0
    #: Leases other instances hold on it, as last read from Redis (0 without Redis).
    peer_inflight: int = 0
    health: float = 1.0
    runtime_expired: bool = False
    #: The persisted fields as this process last knew the database to hold them (a record of
    #: `state.merge`); None for an account not yet saved. The base of the three-way merge.
    synced: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def inflight(self) -> int:
        """In-flight requests on the account across instances, as this process sees them:
        `max_inflight` is checked against this. Setting it moves only this process's count."""
        return self.local_inflight + self.peer_inflight

    @inflight.setter
    def inflight(self, value: int) -> None:
        self.local_inflight = max(0, value - self.peer_inflight)

    @classmethod
    def new(cls, token: str, pool: str = "basic", tags: Iterable[str] = (), note: str = "",
            now: int | None = None) -> Account:
        ts = now_ms() if now is None else now
        return cls(token=token, pool=pool, quota=default_quota(pool), tags=list(dict.fromkeys(tags)),
                   note=note, created_at=ts, updated_at=ts)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def supports(self, mode: str) -> bool:
        if mode == CONSOLE_MODE:
            return CONSOLE_TAG in self.tags
        return mode in TIER_MODES.get(self.pool, ())

    def window(self, mode: str) -> QuotaWindow | None:
        """The mode's window (created from the tier default if missing); None if unsupported."""
        win = self.quota.get(mode)
        if win is None and self.supports(mode):
            win = self.quota[mode] = default_window(self.pool, mode)
        return win

    # ------------------------------------------------------------------ transitions
    def touch(self, now: int) -> None:
        self.updated_at = now

    def reactivate_if_cooled(self, now: int) -> bool:
        """cooling → active once `cooldown_until` passed (or when it has no end)."""
        if self.status != "cooling" or (self.cooldown_until is not None and now < self.cooldown_until):
            return False
        self.status = "active"
        self.cooldown_until = None
        self.state_reason = ""
        self.ext.pop("cooldown_until", None)
        return True

    def restore(self, now: int) -> list[str]:
        """Import / operator enable: active, undeleted, failure and expiry markers cleared, and
        the modes left at zero reopened (`reopen_quota`, whose list it returns)."""
        self.status = "active"
        self.deleted_at = None
        self.consecutive_failures = 0
        self.cooldown_until = None
        self.state_reason = ""
        self.runtime_expired = False
        for key in ("cooldown_until", "disabled_at", "disabled_reason", "expired_at",
                    "expired_reason", "forbidden_strikes", MODE_COOLDOWNS):
            self.ext.pop(key, None)
        self.ext["restored_at"] = now  # an operator restore beats an older expiry elsewhere
        reopened = self.reopen_quota()
        self.touch(now)
        return reopened

    def reopen_quota(self) -> list[str]:
        """Windows left at zero (a 429 empties the mode it hit) go back to the tier default,
        marked unknown. Clearing the cooldown alone would leave the account `active` but never
        chosen, since selection skips a mode with nothing left; the next probe or 429 settles
        the real numbers. Returns the modes reopened."""
        reopened = [mode for mode, win in self.quota.items()
                    if win.remaining <= 0 and self.supports(mode)]
        for mode in reopened:
            self.quota[mode] = default_window(self.pool, mode)
        return reopened

    def set_pool(self, pool: str) -> None:
        """Move to another tier: unsupported windows dropped, missing ones at the tier default."""
        self.pool = pool
        self.quota = {m: w for m, w in self.quota.items() if m in TIER_MODES[pool]}
        for mode in TIER_MODES[pool]:
            self.window(mode)

    def mode_cooldown(self, mode: str) -> dict[str, Any] | None:
        """The cooldown record of `mode` (possibly over), or None."""
        cooled = self.ext.get(MODE_COOLDOWNS)
        return cooled.get(mode) if cooled else None

    def mode_cooling(self, mode: str, now: int) -> bool:
        """A chat 429 holds `mode` of this account out of selection until a later time."""
        entry = self.mode_cooldown(mode)
        return entry is not None and entry.get("until", 0) > now

    def set_mode_cooldown(self, mode: str, until: int, strikes: int, confirmed: bool,
                          since: int | None = None) -> None:
        """`since`: when the latest 429 of the mode arrived (ms); only a try sent after it can
        prove the mode serves again."""
        cooled = dict(self.ext.get(MODE_COOLDOWNS) or {})  # a new dict: merges see a change
        entry: dict[str, Any] = {"until": until, "strikes": strikes, "confirmed": confirmed}
        if since is not None:
            entry["since"] = since
        cooled[mode] = entry
        self.ext[MODE_COOLDOWNS] = cooled

    def clear_mode_cooldown(self, mode: str) -> bool:
        """Forget `mode`'s cooldown and strikes (a success in that mode). True if one was kept."""
        cooled = self.ext.get(MODE_COOLDOWNS)
        if not cooled or mode not in cooled:
            return False
        rest = {m: e for m, e in cooled.items() if m != mode}
        if rest:
            self.ext[MODE_COOLDOWNS] = rest
        else:
            del self.ext[MODE_COOLDOWNS]
        return True

    def cool_down(self, until: int, reason: str) -> None:
        self.status = "cooling"
        self.cooldown_until = until
        self.state_reason = reason
        self.ext["cooldown_until"] = until

    def record_success(self, mode: str, now: int) -> None:
        win = self.window(mode)
        if win is not None:
            win.refill_if_due(now)
            win.remaining = max(0, win.remaining - 1)
            win.source = SOURCE_ESTIMATED
            if win.reset_at is None:
                win.reset_at = now + win.window_seconds * 1000
        self.usage_use_count += 1
        self.consecutive_failures = 0
        self.health = min(1.0, self.health + 0.12)
        self.touch(now)

    def record_failure(self, reason: str, now: int, factor: float) -> None:
        self.usage_fail_count += 1
        self.consecutive_failures += 1
        self.last_fail_at = now
        self.last_fail_reason = reason[:500]
        self.health = max(0.05, self.health * factor)
        self.touch(now)

    def apply_quota(self, mode: str, remaining: int, total: int, window_seconds: int,
                    now: int) -> None:
        if self.pool == "basic" and mode == "fast":
            total = min(total, BASIC_FAST_CAP[0])
            remaining = min(remaining, total)
            window_seconds = BASIC_FAST_CAP[1]
        self.quota[mode] = QuotaWindow(max(0, remaining), max(0, total), window_seconds,
                                       now + window_seconds * 1000, now, SOURCE_REAL)
        self.usage_sync_count += 1
        self.last_sync_at = now
        self.touch(now)


#: Fields saved to the database (everything else on `Account` is per process).
PERSISTED_FIELDS: tuple[str, ...] = (
    "pool", "status", "quota", "usage_use_count", "usage_fail_count", "usage_sync_count",
    "consecutive_failures", "last_use_at", "last_fail_at", "last_fail_reason", "last_sync_at",
    "state_reason", "cooldown_until", "tags", "note", "ext", "created_at", "updated_at",
    "deleted_at", "revision",
)


def health_factor(reason: str) -> float:
    """Health multiplier per failure kind: a 403 costs most, then a 429 and a 401, else least."""
    code = reason.strip()[:3]
    return {"401": 0.55, "403": 0.25, "429": 0.45}.get(code, 0.75)
