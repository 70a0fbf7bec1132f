"""A raw SSE reader for tests that check the wire itself (comments, event names, order)."""
from __future__ import annotations

import json

import aiohttp


async def read_sse(resp: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    """All frames as (kind, payload): kind is "comment", "data" or an event name."""
    frames: list[tuple[str, str]] = []
    event = None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            event = None
            continue
        if line.startswith(":"):
            frames.append(("comment", line[1:].strip()))
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            frames.append((event or "data", line[5:].strip()))
    return frames


def chunks(frames: list[tuple[str, str]]) -> list[dict]:
    return [json.loads(p) for k, p in frames if k == "data" and p != "[DONE]"]
