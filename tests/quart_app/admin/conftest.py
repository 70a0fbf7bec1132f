"""An app with its services started (SQLite in a temp DATA_DIR, nothing reachable upstream)
and a fake quota refresher, driven through Quart's test client."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import pytest_asyncio

from addons.services.quota_refresh import RefreshResult
from quart_app.app import create_app
from state.boot import BootConfig
from state.settings import Settings

KEY = "s3cret-admin"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOK_A = "eyJhbGciOiJIUzI1NiJ9.account-a.0123456789abcdef"
TOK_B = "eyJhbGciOiJIUzI1NiJ9.account-b.fedcba9876543210"
TOK_C = "eyJhbGciOiJIUzI1NiJ9.account-c.00112233445566778"


class FakeRefresher:
    """Stands in for `QuotaRefresher`: each refresh waits `delay`, tokens in `failing` fail."""

    enabled = False

    def __init__(self) -> None:
        self.delay = 0.0
        self.failing: set[str] = set()
        self.calls: list[str] = []

    async def refresh_account(self, token: str, modes: Any = None) -> RefreshResult:
        self.calls.append(token)
        await asyncio.sleep(self.delay)
        res = RefreshResult(token)
        if token in self.failing:
            res.error = f"probe failed for {token}"
        else:
            res.ok, res.refreshed = True, {"fast": (10, 30)}
        return res

    async def refresh_many(self, tokens: Any, progress: Any = None) -> list[RefreshResult]:
        return [await self.refresh_account(t) for t in tokens]

    async def stop(self) -> None:
        pass


class Admin:
    def __init__(self, app: Any, client: Any) -> None:
        self.app = app
        self.client = client
        self.services = app.extensions["grok2api"]
        self.refresher: FakeRefresher = self.services.refresher

    @property
    def pool(self):
        return self.services.pool

    async def stored(self, token: str, timeout: float = 2.0, check=lambda acc: True):
        """The database's copy of `token` once `check` holds (urgent saves are quick)."""
        store, thread = self.services.accounts.store, self.services.accounts.thread
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            acc = await thread.run(store.get, token)
            if acc is not None and check(acc):
                return acc
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"database never showed the change (last: {acc})")
            await asyncio.sleep(0.02)

    async def call(self, method: str, path: str, *, auth: bool = True, **kw: Any):
        headers = {**AUTH, **kw.pop("headers", {})} if auth else kw.pop("headers", {})
        resp = await self.client.open("/admin/api" + path, method=method, headers=headers, **kw)
        return resp.status_code, await resp.get_json()


@pytest_asyncio.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    env = {"DATA_DIR": str(tmp_path), "GROK_UPSTREAM_BASE_URL": "http://127.0.0.1:9",
           "GROK_ACCOUNT__REFRESH__ENABLED": "false",
           # a long delay: only the urgent saves of operator changes reach the database
           "GROK_ACCOUNT_SAVE_DELAY_MS": "60000"}
    boot = BootConfig.from_env(env, dotenv=False)
    settings = Settings.from_boot(boot)
    settings.set("app.app_key", KEY)  # in the user file, so a test can change it
    app = create_app(boot, settings)
    async with app.test_app() as test_app:
        svc = app.extensions["grok2api"]
        await svc.refresher.stop()
        svc.refresher = FakeRefresher()
        yield Admin(app, test_app.test_client())
