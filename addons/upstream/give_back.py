"""Hand freed heap memory back to the operating system.

First the cyclic garbage: the gateway collects rarely (quart_app.app.tune_gc), so the cycles
of a burst's requests, which lived long enough to reach the oldest generation, would stay
until its next full pass. Then glibc's malloc keeps freed memory in its arenas; after a burst of open streams (curl easy
handles, connection buffers, TLS state) closed at once, the process's RSS would otherwise
stay at its peak. `malloc_trim(0)` returns the free pages at the top of the heap and the
free pages inside it. Elsewhere (musl, macOS, Windows) this is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from typing import Any

_trim: Any = None  # the looked-up function, False when there is none; looked up on first use


def give_back() -> bool:
    """Collect cyclic garbage, then give free heap pages back (False: the C library offers
    no way to). Takes milliseconds: call it when the process is quiet."""
    gc.collect()
    return malloc_trim()


def malloc_trim() -> bool:
    """Give free heap pages back; False when the C library offers no way to."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _trim = libc.malloc_trim  # glibc only: musl has no such symbol
                _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):
                _trim = False
    if _trim is False:
        return False
    _trim(0)
    return True
