"""`grok2api bench --floor`: the least a converter can do, as the bench's yardstick.

An aiohttp server and client that turn an OpenAI chat request into a simulator chat and its
NDJSON answer back into OpenAI JSON or SSE: no chain, no accounts, no failover, no limits.
Run in its own process (`python -m ops.bench_floor PORT UPSTREAM TOKENS_FILE`) against the
same simulator as the gateway, so every gateway figure can be given as a ratio to it. Its SSE
is written exactly like the gateway's (orjson, `data: ` frames), which the load generator's
token count relies on.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from ops.bench_load import MODEL, SIM_PATH, STATSIG


def answer_token(line: bytes) -> str | None:
    """The answer text of one simulator NDJSON line (None for any other frame)."""
    if b'"final"' not in line:
        return None
    resp = orjson.loads(line).get("result", {}).get("response", {})
    return resp.get("token") if resp.get("messageTag") == "final" and not resp.get("isThinking") else None


def sse_chunk(token: str) -> bytes:
    return b"data: " + orjson.dumps({"object": "chat.completion.chunk", "model": MODEL,
                                     "choices": [{"index": 0, "delta": {"content": token}}]}) + b"\n\n"


def upstream_request(req: dict[str, Any], sso: str) -> tuple[dict[str, str], bytes]:
    """The headers and body of the simulator chat for one OpenAI chat request."""
    from addons.upstream.chat_payload import build_chat_payload

    prompt = "\n".join(f"[{m['role']}]: {m['content']}" for m in req["messages"])
    headers = {"Content-Type": "application/json", "Origin": "https://grok.com",
               "Referer": "https://grok.com/", "Cookie": f"sso={sso}; sso-rw={sso}",
               "x-statsig-id": STATSIG}
    cfg: Any = SimpleNamespace(memory=False, temporary=True, custom_instruction="")
    return headers, orjson.dumps(build_chat_payload(cfg, prompt, "fast"))


def completion(text: str) -> bytes:
    """The non-stream OpenAI answer."""
    return orjson.dumps({"object": "chat.completion", "model": MODEL, "choices": [{
        "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})


def build_app(upstream: str, sso_tokens: list[str]) -> web.Application:
    tokens = itertools.cycle(sso_tokens)
    app = web.Application()

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        # upstream connections live as long as libcurl's in the gateway (118 s), so neither
        # side opens new ones for a burst that the other would reuse
        app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=118))
        yield
        await app["http"].close()

    async def chat(request: web.Request) -> web.StreamResponse:
        req = orjson.loads(await request.read())
        headers, body = upstream_request(req, next(tokens))
        async with app["http"].post(upstream + SIM_PATH, data=body, headers=headers) as up:
            if not req.get("stream"):
                text = "".join(t for line in (await up.read()).splitlines() if (t := answer_token(line)))
                return web.Response(body=completion(text), content_type="application/json")
            out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await out.prepare(request)
            async for line in up.content:
                if (token := answer_token(line)) is not None:
                    await out.write(sse_chunk(token))
            await out.write(b"data: [DONE]\n\n")
            await out.write_eof()
            return out

    async def health(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok","inflight":0}', content_type="application/json")

    app.cleanup_ctx.append(session)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    return app


if __name__ == "__main__":
    port, upstream, tokens_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    try:
        import uvloop  # type: ignore[import-not-found]
        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - Windows
        loop_factory = None
    web.run_app(build_app(upstream, Path(tokens_file).read_text().split()), host="127.0.0.1",
                port=port, print=None, access_log=None, loop=loop_factory() if loop_factory else None)
