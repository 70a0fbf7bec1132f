"""The process-wide services one app instance uses, started and stopped with the server."""
from __future__ import annotations

import logging

from addons import build_chain
from addons.catalog import Catalogue, ModelSpec
from addons.pipeline import Pipeline
from addons.upstream.config import UpstreamConfig
from addons.upstream.transport import CurlTransport
from state.boot import BootConfig
from state.runtime import AccountState
from state.settings import Settings

log = logging.getLogger(__name__)


class Services:
    """Built without I/O in `create_app`; `start()` runs inside the serving event loop."""

    def __init__(self, boot: BootConfig, settings: Settings) -> None:
        self.boot = boot
        self.settings = settings
        self.accounts = AccountState(boot, settings)
        self.pool = self.accounts.pool
        self.catalogue = Catalogue(settings)
        self.chain = build_chain(settings=settings, pool=self.pool, catalogue=self.catalogue,
                                 ledger=self.accounts.ledger)
        self.transport: CurlTransport | None = None
        self.pipeline: Pipeline | None = None

    async def start(self) -> None:
        self.boot.ensure_data_dir()
        await self.accounts.start()
        self.transport = CurlTransport(UpstreamConfig.from_settings(self.settings),
                                       max_clients=self.settings.int("server.max_upstream_clients"))
        self.pipeline = Pipeline(self.chain, self.transport, self.settings)
        log.info("grok2api ready: %d accounts, upstream %s", len(self.pool),
                 self.settings.str("upstream.base_url"))

    async def stop(self) -> None:
        try:
            if self.transport is not None:
                await self.transport.aclose()
        finally:
            await self.accounts.stop()

    def available_models(self) -> list[ModelSpec]:
        """Enabled models that at least one usable account can serve (MODEL-3)."""
        return [m for m in self.catalogue.models()
                if self.pool.has_usable(Catalogue.usable_pools(m), m.mode)]
