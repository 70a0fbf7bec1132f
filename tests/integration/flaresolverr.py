"""A stand-in FlareSolverr on a loopback port: it "solves" the simulator's Cloudflare challenge
by having the simulator issue a clearance bound to its browser's User-Agent, and answers with
FlareSolverr's JSON (`POST /v1`)."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ops.simulator.state import SimulatorState

#: The browser FlareSolverr drives: not the gateway's configured agent, so a test can tell
#: which one went out.
SOLVER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/131.0.0.0 Safari/537.36")


class FakeFlareSolverr:
    def __init__(self, sim: SimulatorState, *, user_agent: str = SOLVER_UA, fail: bool = False,
                 delay: float = 0.0) -> None:
        self.sim, self.user_agent, self.fail, self.delay = sim, user_agent, fail, delay
        #: the JSON body of every call, in order
        self.calls: list[dict[str, Any]] = []
        #: the cf_clearance values handed out, in order
        self.issued: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _solve(self, request: web.Request) -> web.Response:
        self.calls.append(await request.json())
        await asyncio.sleep(self.delay)
        if self.fail:
            return web.json_response({"status": "error", "message": "Error solving the challenge. "
                                      "Timeout after 60.0 seconds."}, status=500)
        value = self.sim.issue_clearance(self.user_agent)
        self.issued.append(value)
        return web.json_response({"status": "ok", "message": "Challenge solved!", "solution": {
            "url": self.calls[-1].get("url"), "status": 200, "userAgent": self.user_agent,
            "cookies": [
                {"name": "cf_clearance", "value": value, "domain": ".grok.com", "path": "/",
                 "httpOnly": True, "secure": True},
                {"name": "__cf_bm", "value": "bm-solved", "domain": ".grok.com", "path": "/"},
            ]}})

    async def start(self) -> "FakeFlareSolverr":
        app = web.Application()
        app.router.add_post("/v1", self._solve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
