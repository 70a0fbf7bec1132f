"""Unauthenticated routes: health and version."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from quart import Blueprint, Response, current_app

from addons.accounts import AccountSelector
from quart_app.routes_v1 import json_response

bp = Blueprint("misc", __name__)


def app_version() -> str:
    try:
        return version("grok2api")
    except PackageNotFoundError:
        return "0.0.0"


@bp.get("/health")
async def health() -> Response:
    """Always 200 while the process serves: an upstream outage is not cured by restarting the
    gateway, so the breaker's state is reported, not turned into a failing health check."""
    svc = current_app.extensions["grok2api"]
    return json_response({"status": "ok", "accounts": len(svc.pool.all()),
                          "inflight": svc.pool.count_inflight(),
                          "breaker": svc.breaker.snapshot(),
                          # requests waiting for a busy account (account.selection.queue_timeout_sec)
                          "queued": svc.chain.get(AccountSelector).queued})


@bp.get("/version")
async def version_info() -> Response:
    return json_response({"version": app_version()})
