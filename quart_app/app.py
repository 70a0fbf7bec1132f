"""The app factory. Everything is built here and in the lifecycle hooks, nothing at import."""
from __future__ import annotations

import gc

from quart import Quart, Response

from quart_app import keepalive
from quart_app.admin import register_admin
from quart_app.errors import register_error_handlers
from quart_app.services import Services
from state.boot import BootConfig
from state.options import Loader
from state.settings import Settings

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "86400",
}


def load(loader: Loader) -> None:
    """The settings the app factory reads."""
    loader.add_option("app.max_body_mb", int, 64,
                      "Largest accepted request body in MiB (chats with several base64 images "
                      "are large). Read at startup.")


def tune_gc() -> None:
    """Fewer, cheaper cyclic collections. Every request allocates hundreds of short-lived
    objects (events, dicts, frames), so the default gen-0 threshold of 700 runs a collection
    every request or two, and each older-generation pass walks every long-lived object
    (modules, the pool, settings). Freezing what exists once serving starts takes those out of
    every later pass; a larger gen-0 threshold lets most garbage die by reference count first."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app(boot: BootConfig | None = None, settings: Settings | None = None) -> Quart:
    boot = boot or BootConfig.from_env()
    settings = settings or Settings.load(boot)
    keepalive.install()
    app = Quart("grok2api")
    app.config["MAX_CONTENT_LENGTH"] = settings.options.app.max_body_mb << 20  # trap 12
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = 120
    services = Services(boot, settings)
    app.extensions["grok2api"] = services

    from quart_app import routes_anthropic, routes_misc, routes_responses, routes_v1
    from quart_app.fastpath import FastPath

    app.register_blueprint(routes_misc.bp)
    app.register_blueprint(routes_v1.bp)
    register_admin(app)  # its after_serving hook runs before `_stop` below
    register_error_handlers(app)
    hot = {**routes_v1.ROUTES, **routes_responses.ROUTES, **routes_anthropic.ROUTES}
    app.asgi_app = FastPath(app.asgi_app, services, hot, app.config["MAX_CONTENT_LENGTH"])

    @app.after_request
    async def _cors(response: Response) -> Response:  # GEN-2
        response.headers.update(CORS_HEADERS)
        return response

    @app.before_serving
    async def _start() -> None:
        await services.start()
        tune_gc()

    @app.after_serving
    async def _stop() -> None:
        await services.stop()

    return app
