"""The app factory. Everything is built here and in the lifecycle hooks, nothing at import."""
from __future__ import annotations

import gc
from functools import partial
from typing import Any, Callable, Sequence

from quart import Quart

from quart_app import connections
from quart_app.admin import register_admin
from quart_app.errors import register_error_handlers
from quart_app.fastpath import FastPath
from quart_app.http_policy import HttpPolicy
from quart_app.legacy_routes import LegacyRoutes
from quart_app.web import register_web
from quart_app.request_log import RequestLog
from quart_app.services import Services
from state.boot import BootConfig
from state.options import Loader
from state.redact import watch as redact_secrets_of
from state.settings import Settings

ASGIApp = Callable[[dict, Callable, Callable], Any]
Layer = Callable[[ASGIApp], ASGIApp]


def load(loader: Loader) -> None:
    """The settings the app factory reads."""
    loader.add_option("app.max_body_mb", int, 64,
                      "Largest accepted request body in MiB (chats with several base64 images "
                      "are large). Read at startup.")
    loader.add_option("server.body_stall_sec", float, 30.0,
                      "Seconds a request body may stop arriving (also before its first byte) "
                      "before the request is answered 408. Read at startup.")
    loader.add_option("server.body_timeout_sec", float, 120.0,
                      "Seconds a request body may take to arrive in full, from its first byte, "
                      "before the request is answered 408. Read at startup.")


def tune_gc() -> None:
    """Fewer, cheaper cyclic collections. Every request allocates hundreds of short-lived
    objects (events, dicts, frames), so the default gen-0 threshold of 700 runs a collection
    every request or two, and each older-generation pass walks every long-lived object
    (modules, the pool, settings). Freezing what exists once serving starts takes those out of
    every later pass; a larger gen-0 threshold lets most garbage die by reference count first."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def build_stack(app: ASGIApp, layers: Sequence[Layer]) -> ASGIApp:
    """`layers` outermost first, each wrapping the ones after it and finally `app`."""
    for layer in reversed(layers):
        app = layer(app)
    return app


def create_app(boot: BootConfig | None = None, settings: Settings | None = None) -> Quart:
    boot = boot or BootConfig.from_env()
    settings = settings or Settings.load(boot)
    connections.install()
    app = Quart("grok2api", static_folder=None)  # the pages serve theirs (quart_app.web)
    max_body = settings.options.app.max_body_mb << 20
    server = settings.options.server
    # The policy layer enforces the body limit for every route; Quart's own (16 MiB by
    # default) would otherwise cut a larger limit short.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["RESPONSE_TIMEOUT"] = None
    services = Services(boot, settings)
    app.extensions["grok2api"] = services

    from quart_app import (openapi, routes_anthropic, routes_audio, routes_files,
                           routes_image_edits, routes_images, routes_misc, routes_responses,
                           routes_v1, routes_videos)

    app.register_blueprint(routes_misc.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(routes_v1.bp)
    app.register_blueprint(routes_files.bp)
    app.register_blueprint(routes_images.bp)
    app.register_blueprint(routes_videos.bp)
    app.register_blueprint(routes_image_edits.bp)
    app.register_blueprint(routes_audio.bp)
    register_admin(app)  # its after_serving hook runs before `_stop` below
    web_routes = register_web(app)  # needs the admin state (page sessions)
    register_error_handlers(app)
    hot = {**routes_v1.ROUTES, **routes_responses.ROUTES, **routes_anthropic.ROUTES,
           **routes_images.ROUTES, **web_routes}
    # Every request passes these layers in this order, whether the fast path or Quart serves
    # it: the request id and access log see the final response (errors included), the policy
    # sees everything a route might answer.
    app.asgi_app = build_stack(app.asgi_app, [
        LegacyRoutes,  # first: every layer below sees today's route of an old one
        RequestLog,
        partial(HttpPolicy, max_body=max_body, body_timeout=server.body_timeout_sec,
                body_stall=server.body_stall_sec),
        partial(FastPath, services=services, routes=hot),
    ])

    forget_secrets: list[Callable[[], None]] = []

    @app.before_serving
    async def _start() -> None:
        # while it serves, the log masks its keys and every account token, whatever its shape
        forget_secrets.append(redact_secrets_of(settings, tokens=services.pool.get))
        await services.start()
        tune_gc()

    @app.after_serving
    async def _stop() -> None:
        try:
            await services.stop()
        finally:
            for forget in forget_secrets:
                forget()

    return app
