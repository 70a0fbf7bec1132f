"""Paced frame writing shared by all streams with the same inter-frame delay.

Why: the benchmark holds ~1,000 streams open, each sending a frame every few ms. One
sleep + task wake-up + aiohttp write chain per frame per stream costs ~40 µs of CPU; at
100k frames/s the simulator, not the gateway, became the bottleneck. A `Pacer` instead
runs one timer per delay value; each tick writes the next pre-framed chunk of every
registered stream straight to its transport. Per frame that is one `transport.write`.

A stream whose transport is backed up (client not reading) is skipped for that tick.
A stream whose transport closed ends with result False.
"""
from __future__ import annotations

import asyncio
from typing import Any

#: Skip a stream for a tick while this many bytes wait in its transport buffer.
_HIGH_WATER = 256 * 1024


class _Entry:
    __slots__ = ("transport", "chunks", "index", "future")

    def __init__(self, transport: asyncio.Transport, chunks: list[bytes], future: asyncio.Future[bool]) -> None:
        self.transport = transport
        self.chunks = chunks
        self.index = 0
        self.future = future


class Pacer:
    """Writes one chunk per registered stream every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._entries: list[_Entry] = []
        self._handle: asyncio.TimerHandle | None = None
        self._next_at = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    async def send(self, transport: Any, chunks: list[bytes]) -> bool:
        """Write `chunks`, one per tick (the first after one interval).

        True when all were written, False if the connection closed first. Cancelling the
        caller unregisters the stream.
        """
        if not chunks:
            return True
        loop = asyncio.get_running_loop()
        entry = _Entry(transport, chunks, loop.create_future())
        self._entries.append(entry)
        if self._handle is None:
            self._next_at = loop.time() + self.interval
            self._handle = loop.call_at(self._next_at, self._tick, loop)
        try:
            return await entry.future
        finally:
            if not entry.future.done():
                entry.future.cancel()  # the next tick drops it

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        keep: list[_Entry] = []
        for entry in self._entries:
            future = entry.future
            if future.done():
                continue
            transport = entry.transport
            if transport.is_closing():
                future.set_result(False)
                continue
            if transport.get_write_buffer_size() > _HIGH_WATER:
                keep.append(entry)
                continue
            transport.write(entry.chunks[entry.index])
            entry.index += 1
            if entry.index == len(entry.chunks):
                future.set_result(True)
            else:
                keep.append(entry)
        self._entries = keep
        if not keep:
            self._handle = None
            return
        # Fixed schedule; if a tick ran late the next one fires at once (no drift),
        # but never schedule more than one interval of backlog.
        now = loop.time()
        self._next_at = max(self._next_at + self.interval, now - self.interval)
        self._handle = loop.call_at(self._next_at, self._tick, loop)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for entry in self._entries:
            if not entry.future.done():
                entry.future.set_result(False)
        self._entries = []
