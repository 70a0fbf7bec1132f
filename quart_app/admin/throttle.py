"""Wrong admin secrets, throttled per client address.

The first `admin.throttle.free_failures` wrong secrets from an address cost nothing (typos).
Each further one makes the address wait before its next attempt, twice as long each time
(1 s, 2 s, 4 s, …); at `admin.throttle.lockout_failures` the address is locked out for
`admin.throttle.lockout_sec`. An attempt made while the address must wait is refused with a
429 without looking at the secret, so sending many guesses at once gains nothing. The count
is kept until a right secret arrives or the address stays quiet for a lockout period after
its wait ended: an address that keeps guessing after a lockout is locked out again at once.

Other addresses are not affected. IPv6 clients are counted per /64, the block one subscriber
usually holds. The table is per process (each worker counts on its own) and bounded: past
`MAX_ADDRESSES` the address idle the longest is forgotten.
"""
from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from state.options import Loader

__all__ = ["AdminThrottle", "MAX_ADDRESSES", "bucket", "load"]

log = logging.getLogger(__name__)

#: Addresses remembered per process (about 150 bytes each).
MAX_ADDRESSES = 10_000
#: The first wait; each further failure doubles it.
BASE_DELAY_SEC = 1.0


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


def _not_negative(value: int) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def load(loader: Loader) -> None:
    loader.add_option("admin.throttle.free_failures", int, 3,
                      "Wrong admin secrets a client address may send before each further one "
                      "makes it wait (1 s, then twice as long each time).",
                      check=_not_negative)
    loader.add_option("admin.throttle.lockout_failures", int, 10,
                      "Wrong admin secrets after which the address is locked out.",
                      check=_positive)
    loader.add_option("admin.throttle.lockout_sec", int, 900,
                      "How long a locked-out address is refused, and how long an address must "
                      "stay quiet afterwards before its count of failures is forgotten.",
                      check=_positive)


def bucket(address: str) -> str:
    """The throttle's key for an address: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    #: Monotonic time before which the address is refused.
    until: float = 0.0


class AdminThrottle:
    """Per client address: how many wrong secrets in a row, and until when it must wait.
    Every method is synchronous, so a check and the failure it leads to are never split by
    another request of the same address."""

    def __init__(self, settings: Any, *, max_addresses: int = MAX_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._max = max_addresses
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def wait(self, address: str) -> float:
        """Seconds `address` must still wait before it may try a secret (0: it may now)."""
        key = bucket(address)
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        now = self._clock()
        if now < entry.until:
            return entry.until - now
        if now >= entry.until + self._settings.options.admin.throttle.lockout_sec:
            del self._entries[key]  # quiet long enough: a fresh start
        return 0.0

    def failed(self, address: str) -> float:
        """Count a wrong secret from `address`; returns how long it must now wait."""
        opts = self._settings.options.admin.throttle
        key = bucket(address)
        entry = self._entries.pop(key, None) or _Entry()
        self._entries[key] = entry  # most recently active last: eviction takes the oldest
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        entry.failures += 1
        n = entry.failures
        if n >= opts.lockout_failures:
            delay = float(opts.lockout_sec)
            log.warning("admin: %s locked out for %d s after %d wrong admin secrets in a row",
                        key, opts.lockout_sec, n)
        elif n > opts.free_failures:
            delay = min(BASE_DELAY_SEC * 2 ** (n - opts.free_failures - 1),
                        float(opts.lockout_sec))
            log.warning("admin: wrong admin secret from %s (%d in a row); its next attempt "
                        "waits %.0f s", key, n, delay)
        else:
            delay = 0.0
            log.warning("admin: wrong admin secret from %s (%d in a row)", key, n)
        entry.until = self._clock() + delay
        return delay

    def succeeded(self, address: str) -> None:
        """A right secret: the address starts afresh."""
        self._entries.pop(bucket(address), None)
