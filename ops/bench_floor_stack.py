"""`grok2api bench --stack-floor`: bench_floor.py's minimal converter on the gateway's own stack.

The same conversion as bench_floor.py (no chain, no accounts, no failover, no limits), but
served by Hypercorn as a bare ASGI callable and calling the simulator through curl_cffi's
public `AsyncSession`, the two libraries the gateway is built on. Set beside bench_floor.py
(aiohttp on both sides) it shows how much of the gateway's distance to that floor the stack
itself accounts for, before any feature. Run in its own process
(`python -m ops.bench_floor_stack PORT UPSTREAM TOKENS_FILE`).
"""
from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

from ops.bench_floor import answer_token, completion, sse_chunk, upstream_request
from ops.bench_load import SIM_PATH

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HEALTH = b'{"status":"ok","inflight":0}'


def _start(content_type: bytes, length: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", content_type)]
    if length is not None:  # the load generator reads a non-stream answer by its length
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def build_app(upstream: str, sso_tokens: list[str]) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    from curl_cffi.requests import AsyncSession

    tokens = itertools.cycle(sso_tokens)
    state: dict[str, Any] = {}

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["http"] = AsyncSession(max_clients=4096)  # no cap below the bench's 1,000 streams
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["http"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["path"] == "/health":
            await send(_start(b"application/json", len(HEALTH)))
            await send({"type": "http.response.body", "body": HEALTH})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        req = orjson.loads(body)
        headers, data = upstream_request(req, next(tokens))
        http = state["http"]
        if not req.get("stream"):
            up = await http.post(upstream + SIM_PATH, data=data, headers=headers)
            out = completion("".join(t for line in up.content.splitlines() if (t := answer_token(line))))
            await send(_start(b"application/json", len(out)))
            await send({"type": "http.response.body", "body": out})
            return
        up = await http.post(upstream + SIM_PATH, data=data, headers=headers, stream=True)
        try:
            await send(_start(b"text/event-stream"))
            async for line in up.aiter_lines():
                if (token := answer_token(line)) is not None:
                    await send({"type": "http.response.body", "body": sse_chunk(token), "more_body": True})
        finally:
            await up.aclose()
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    return app


def main(port: int, upstream: str, tokens_file: str) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    config.keep_alive_timeout = 75  # the gateway's default (server.keep_alive_sec)
    config.backlog = 4096
    app = build_app(upstream, Path(tokens_file).read_text().split())
    try:
        import uvloop  # type: ignore[import-not-found]
        uvloop.run(serve(app, config))  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
