"""Shared helpers for the simulator tests."""
from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson

from ops.simulator.app import RunningSimulator

CHAT = "/rest/app-chat/conversations/new"
RATE_LIMITS = "/rest/rate-limits"
UPLOAD = "/rest/app-chat/upload-file"
#: base64 of "x1:TypeError: …" — the newer fallback prefix.
STATSIG = base64.b64encode(b"x1:TypeError: Cannot read properties of undefined (reading 'abcdefghij')").decode()
STATSIG_E = base64.b64encode(b"e:TypeError: Cannot read properties of undefined (reading 'abcdefghij')").decode()


def auth_headers(token: str | None, *, statsig: str | None = STATSIG, rw: str | None = None) -> dict[str, str]:
    headers = {"Origin": "https://grok.com", "Referer": "https://grok.com/"}
    if token is not None:
        headers["Cookie"] = f"sso={token}; sso-rw={rw if rw is not None else token}"
    if statsig is not None:
        headers["x-statsig-id"] = statsig
    return headers


def chat_payload(message: str, mode: str = "fast", **extra: Any) -> dict[str, Any]:
    return {"message": message, "modeId": mode, "temporary": True, "fileAttachments": [], **extra}


def responses(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["result"]["response"] for f in frames if "response" in f.get("result", {})]


def answer_of(frames: list[dict[str, Any]]) -> str:
    return "".join(r["token"] for r in responses(frames)
                   if "token" in r and r.get("isThinking") is False and r.get("messageTag") == "final")


async def chat(session: aiohttp.ClientSession, sim: RunningSimulator, message: str, mode: str = "fast",
               token: str | None = "tok", **kw: Any) -> tuple[int, list[dict[str, Any]], bytes]:
    """POST a chat; return (status, parsed lines, raw body)."""
    headers = kw.pop("headers", None) or auth_headers(token)
    async with session.post(sim.url + CHAT, json=chat_payload(message, mode, **kw), headers=headers) as resp:
        body = await resp.read()
    lines = [orjson.loads(line) for line in body.split(b"\n") if line] if resp.status == 200 else []
    return resp.status, lines, body


async def post_json(session: aiohttp.ClientSession, url: str, payload: Any,
                    headers: dict[str, str] | None = None) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with session.post(url, json=payload, headers=headers or {}) as resp:
        raw = await resp.read()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        data = raw
    return resp.status, data, resp
