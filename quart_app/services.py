"""The process-wide services one app instance uses, started and stopped with the server."""
from __future__ import annotations

import logging

from addons import build_chain
from addons.accounts import AccountSelector
from addons.attachments import Attachments
from addons.breaker import Breaker
from addons.clearance import Clearance
from addons.services.catalogue import Catalogue, ModelSpec
from addons.services.media_cache import MediaCache
from addons.services.media_output import MediaOutput
from addons.services.video_jobs import VideoJobs
from addons.continuation import Continuation
from addons.image_edit_inputs import ImageEditInputs
from addons.pipeline import Pipeline
from addons.services.quota_refresh import QuotaRefresher
from addons.retry import Retry
from addons.upstream.base import Transport
from addons.upstream.config import UpstreamConfig
from addons.upstream.console_transport import ConsoleTransport
from addons.upstream.livekit import LiveKitTransport
from addons.upstream.imagine import ImagineTransport
from addons.upstream.imagine_chat import ChatImageTransport
from addons.upstream.image_edit_transport import ImageEditTransport
from addons.upstream.mgw import DEFAULT_WS_URL, MgwTransport
from addons.upstream.router import TransportRouter
from addons.upstream.transport import CurlTransport
from addons.upstream.upload import upload_file, upload_file_v2
from addons.upstream.video_transport import VideoTransport
from addons.video_posts import VideoPosts
from state.boot import BootConfig
from state.keys_service import KeyService
from state.options import Loader
from state.runtime import AccountState
from state.settings import Settings
from state.video_jobs import VideoJobStore

log = logging.getLogger(__name__)


class Services:
    """Built without I/O in `create_app`; `start()` runs inside the serving event loop."""

    @staticmethod
    def load(loader: Loader) -> None:
        """Read at startup: a change applies on the next start."""
        loader.add_option("upstream.chat_transport", str, "rest",
                          "Chat transport: `rest` (grok.com's NDJSON chat endpoint) or `mgw` "
                          "(its WebSocket gateway, which can continue stored conversations). "
                          "Read at startup.",
                          choices=("rest", "mgw"), value_aliases={"ws": "mgw"})
        loader.add_option("upstream.ws_url", str, DEFAULT_WS_URL,
                          "WebSocket origin of the mgw chat transport; while it is the "
                          "default and `upstream.base_url` points elsewhere (a mirror, the "
                          "simulator), the origin follows `upstream.base_url`. Read at startup.")
        loader.add_option("server.max_upstream_clients", int, 2048,
                          "Upper bound of concurrent upstream connections (size it above peak "
                          "concurrency). Read at startup.")
        loader.add_option("server.upstream_idle_handles", int, 32,
                          "Idle upstream connections (curl handles) kept however long they "
                          "wait; those above this many close once idle for "
                          "`server.upstream_idle_close_sec`, and their memory goes back to the "
                          "system (after a burst of streams). Read at startup.")
        loader.add_option("server.upstream_idle_close_sec", float, 30.0,
                          "Seconds an idle upstream connection above "
                          "`server.upstream_idle_handles` waits before it is closed. Read at "
                          "startup.")

    def __init__(self, boot: BootConfig, settings: Settings) -> None:
        self.boot = boot
        self.settings = settings
        self.accounts = AccountState(boot, settings)
        self.pool = self.accounts.pool
        self.catalogue = Catalogue(settings)
        #: the managed client keys and their limits (in memory, synced behind)
        self.keys = KeyService(self.accounts.thread, settings, self.accounts.redis)
        self.chain = build_chain(settings=settings, pool=self.pool, catalogue=self.catalogue,
                                 ledger=self.accounts.ledger,
                                 continuations=self.accounts.continuations, keys=self.keys)
        #: the upstream circuit breaker of this process (its state is on /health)
        self.breaker = self.chain.get(Breaker).service
        #: the Cloudflare clearances of this process, by egress (shown in the admin status)
        self.clearance = self.chain.get(Clearance).service
        self.transport: CurlTransport | None = None  # REST: rate limits, uploads, session lookup
        self.chat_transport: Transport | None = None
        self.image_transport: ImagineTransport | None = None  # the imagine WebSocket
        self.console_transport: ConsoleTransport | None = None
        self.pipeline: Pipeline | None = None
        self.refresher: QuotaRefresher | None = None
        #: generated images and videos kept under DATA_DIR/media, served by /v1/files/*
        self.media = MediaCache(boot.data_dir, settings)
        #: what a client receives for a generated file (links, base64, Markdown, HTML)
        self.media_output = MediaOutput(self.media, settings)
        #: /v1/videos jobs: rows in the database, run in the background of this process
        self.videos = VideoJobs(settings, self.media_output)

    async def start(self) -> None:
        self.boot.ensure_data_dir()
        await self.accounts.start()
        await self.keys.start()
        self.transport = CurlTransport(UpstreamConfig.from_settings(self.settings),
                                       max_clients=self.settings.options.server.max_upstream_clients,
                                       clearance=self.clearance.store,
                                       idle_keep=max(0, self.settings.options.server.upstream_idle_handles),
                                       idle_trim_after=max(0.0, self.settings.options.server.upstream_idle_close_sec))
        self.chat_transport = self._chat_transport()
        # media downloads carry the owning account's cookies through the same client
        self.media.bind(self.transport)
        await self.media.start()
        mgw = isinstance(self.chat_transport, MgwTransport)
        # uploads go through the same client: multipart upload-file-v2 with the mgw chat,
        # else the JSON upload-file call
        self.chain.get(Attachments).bind(self.transport, upload_file_v2 if mgw else upload_file)
        # an image edit's uploads and media post go through the same client
        self.chain.get(ImageEditInputs).bind(self.transport)
        # only the mgw gateway can continue an upstream conversation (no REST follow-up call)
        self.chain.get(Continuation).bind(mgw)
        # a video's uploads and media posts, and its segments, go over the REST client
        # whatever the chat transport
        self.chain.get(VideoPosts).bind(self.transport)
        # one transport per kind of job; the chat-based image path always goes over REST,
        # whatever the chat transport is
        chat_images = ChatImageTransport(self.transport)
        opts = self.settings.options
        self.image_transport = ImagineTransport(self.transport.cfg, self.transport, chat_images,
                                                ws_url=opts.upstream.ws_url,
                                                max_clients=opts.server.max_upstream_clients)
        # the console (console models, TTS, STT) over the same curl handles, with its DPoP
        # sessions; the LiveKit token is one short grok.com call
        self.console_transport = ConsoleTransport(self.transport, self.transport.cfg.console_url)
        self.pipeline = Pipeline(self.chain, TransportRouter({
            "console": self.console_transport,
            "speech": self.console_transport,
            "transcription": self.console_transport,
            "voice_token": LiveKitTransport(self.transport),
            "chat": self.chat_transport,
            "image": self.image_transport,
            "image_chat": chat_images,
            "image_edit": ImageEditTransport(self.transport),
            "video": VideoTransport(self.transport),
        }), self.settings)
        await self.videos.start(VideoJobStore(self.accounts.thread, self.accounts.instance),
                                self.pipeline)
        # quota refresh: per call, on demand, and the per-pool loops in the leader process
        # one scheduler per DATA_DIR (file lock) and among hosts (database or Redis lease)
        self.refresher = QuotaRefresher(self.pool, self.transport, self.settings,
                                        data_dir=self.boot.data_dir, lease=self.accounts.lease,
                                        release_lease=self.accounts.release_lease)
        self.chain.get(AccountSelector).bind_refresher(self.refresher)
        self.chain.get(Retry).bind_refresher(self.refresher)
        self.refresher.start()
        await self.refresher.elect()
        log.info("grok2api ready: %d accounts, upstream %s", len(self.pool),
                 self.settings.options.upstream.base_url)

    def _chat_transport(self) -> Transport:
        """`upstream.chat_transport`: `rest` (NDJSON POST) or `mgw`, grok.com's WebSocket
        gateway, which still makes its short HTTP calls through `self.transport`."""
        assert self.transport is not None
        opts = self.settings.options
        if opts.upstream.chat_transport == "mgw":
            return MgwTransport(self.transport.cfg, self.transport,
                                ws_url=opts.upstream.ws_url,
                                max_clients=opts.server.max_upstream_clients)
        return self.transport

    async def stop(self) -> None:
        try:
            # first: a running video's flow still needs the transport and the database
            await self.videos.stop()
            await self.clearance.aclose()
            if self.refresher is not None:
                await self.refresher.stop()
            if self.chat_transport is not None and self.chat_transport is not self.transport:
                await self.chat_transport.aclose()
            if self.image_transport is not None:
                await self.image_transport.aclose()
            if self.transport is not None:
                await self.transport.aclose()
        finally:
            try:
                await self.keys.stop()
            finally:
                await self.accounts.stop()

    def available_models(self) -> list[ModelSpec]:
        """Enabled models that at least one usable account can serve."""
        return [m for m in self.catalogue.models()
                if self.pool.has_usable(Catalogue.usable_pools(m), m.mode)]
