"""Unauthenticated routes: health (`/health`, the liveness `/healthz`, the readiness
`/readyz`), version and the Prometheus scrape (`/metrics`, its own optional token)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from quart import Blueprint, Response, current_app, request

from addons.accounts import AccountSelector
from addons.errors import ApiError
from addons.metrics import Metrics
from quart_app import metrics
from quart_app.health import not_ready_reason
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


@bp.get("/healthz")
async def healthz() -> Response:
    """Liveness: the process serves requests. No I/O, so a busy database or an upstream
    outage never gets a live process restarted."""
    return json_response({"ok": True})


@bp.get("/readyz")
async def readyz() -> Response:
    """Readiness: the database answers, the pool is loaded, an account is usable; else 503
    with the reason."""
    reason = await not_ready_reason(current_app.extensions["grok2api"])
    if reason is not None:
        return json_response({"ok": False, "reason": reason}, status=503)
    return json_response({"ok": True})


@bp.get("/metrics")
async def prometheus_metrics() -> Response:
    """Prometheus text format; `metrics.token` (Bearer) when set."""
    svc = current_app.extensions["grok2api"]
    svc.settings.reload_if_changed()  # a changed token applies at once
    if not metrics.authorized(svc.settings, request.headers.get("authorization")):
        raise ApiError(401, "GET /metrics needs Authorization: Bearer <metrics.token>",
                       type="authentication_error", code="invalid_api_key")
    registry = svc.chain.get(Metrics).metrics.registry
    return Response(await metrics.render(svc, registry), content_type=metrics.CONTENT_TYPE)


@bp.get("/version")
async def version_info() -> Response:
    return json_response({"version": app_version()})
