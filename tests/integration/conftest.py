"""Real sockets end to end: the simulator and the gateway (Hypercorn) on loopback ports, the
official SDKs as clients.

The dialect modules (`BOTH_TRANSPORTS`) run every test twice, over the REST chat and over the
mgw WebSocket (`upstream.chat_transport`); tests read what the gateway sent upstream through
`Stack.last_chat()` / `Stack.chat_tokens()`, which look at whichever transport is in use.
"""
from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from hypercorn.asyncio import serve
from hypercorn.config import Config

from ops.simulator.app import RunningSimulator, start_simulator
from ops.simulator.state import CHAT_PATH, MGW_PATH
from quart_app.app import create_app
from state.boot import BootConfig
from state.settings import Settings


BOTH_TRANSPORTS = frozenset({"test_chat_completions", "test_failover", "test_responses_openai",
                             "test_messages_anthropic", "test_tools_openai"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "stack" in metafunc.fixturenames and module in BOTH_TRANSPORTS:
        metafunc.parametrize("chat_transport", ["rest", "mgw"])


@pytest.fixture
def chat_transport() -> str:
    """The upstream chat transport of the stack; the dialect modules get both."""
    return "rest"


@dataclass(slots=True)
class SentChat:
    """One chat the simulator received, whatever the transport."""

    token: str | None
    message: str | None
    mode: str | None
    file_ids: list[str] = field(default_factory=list)
    raw: Any = None  # the RecordedRequest (rest) or MgwSession (mgw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """One gateway process-equivalent: its own app, pool and Hypercorn server."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> "Gateway":
        boot = BootConfig.from_env({"DATA_DIR": str(self.data_dir), **self.env}, dotenv=False)
        self.app = create_app(boot, Settings.from_boot(boot))
        self.services = self.app.extensions["grok2api"]
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = 0.5
        config.accesslog = None
        self._task = asyncio.create_task(serve(self.app, config, shutdown_trigger=self._shutdown.wait))
        async with aiohttp.ClientSession() as client:
            for _ in range(200):
                try:
                    async with client.get(self.url + "/health") as resp:
                        if resp.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.02)
        raise RuntimeError("gateway did not start")

    async def stop(self) -> None:
        self._shutdown.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)

    @property
    def pool(self):
        return self.services.pool


class Stack:
    def __init__(self, sim: RunningSimulator, data_dir: Path, env: dict[str, str],
                 transport: str = "rest") -> None:
        self.sim = sim
        self.data_dir = data_dir
        self.env = env
        self.transport = transport
        self.gateway: Gateway | None = None
        self.clients: list = []

    @property
    def mgw(self) -> bool:
        return self.transport == "mgw"

    def chat_attempts(self) -> list:
        """Every chat attempt the simulator saw, in order: REST chat POSTs, or mgw WebSocket
        handshakes (refused ones included; the plain GETs that fetch a refusal body are not)."""
        if not self.mgw:
            return self.sim.state.requests_to(CHAT_PATH)
        return [r for r in self.sim.state.requests_to(MGW_PATH)
                if r.headers.get("upgrade", "").lower() == "websocket"]

    def chat_tokens(self) -> list[str | None]:
        """The account (sso cookie) of every chat attempt, in order."""
        return [r.token for r in self.chat_attempts()]

    def chats(self) -> list[SentChat]:
        """The chats that reached the simulator's chat logic (message sent), in order."""
        if not self.mgw:
            return [SentChat(r.token, (r.json or {}).get("message"), (r.json or {}).get("modeId"),
                             list((r.json or {}).get("fileAttachments") or []), r)
                    for r in self.sim.state.requests_to(CHAT_PATH)]
        return [SentChat(s.token, s.message, s.model, s.file_ids, s)
                for s in self.sim.state.mgw_sessions if s.message is not None]

    def last_chat(self) -> SentChat:
        return self.chats()[-1]

    async def start_gateway(self, **env: str) -> Gateway:
        self.env.update(env)
        self.gateway = await Gateway(self.data_dir, dict(self.env)).start()
        return self.gateway

    async def restart_gateway(self) -> Gateway:
        await self.gateway.stop()
        return await self.start_gateway()

    @property
    def url(self) -> str:
        return self.gateway.url

    def add_account(self, token: str, tier: str = "super", status: str = "active") -> None:
        """Known to the simulator with that tier, and imported into the gateway's pool."""
        self.sim.state.add_token(token, tier=tier, status=status)
        self.gateway.pool.add(token, pool=tier)

    def openai(self, api_key: str = "unused", **kw):
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, **kw)
        self.clients.append(client)
        return client

    def http(self, **kw) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(base_url=self.url, timeout=aiohttp.ClientTimeout(total=30), **kw)


@pytest_asyncio.fixture
async def stack(tmp_path: Path, chat_transport: str) -> AsyncIterator[Stack]:
    sim = await start_simulator()
    env = {
        "GROK_UPSTREAM_BASE_URL": sim.url,
        "GROK_UPSTREAM_ASSETS_URL": sim.url,
        "GROK_UPSTREAM_ACCOUNTS_URL": sim.url,
        "GROK_UPSTREAM_CONSOLE_URL": sim.url + "/console",
        "GROK_UPSTREAM_CHAT_TRANSPORT": chat_transport,
        "GROK_ACCOUNT_SAVE_DELAY_MS": "20",
        "GROK_RETRY_BACKOFF_BASE_MS": "0",
    }
    s = Stack(sim, tmp_path, env, chat_transport)
    try:
        yield s
    finally:
        for client in s.clients:
            await client.close()
        if s.gateway is not None:
            await s.gateway.stop()
        await sim.stop()
