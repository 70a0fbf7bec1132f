"""System routes: directory status, storage kind, forced sync."""
from __future__ import annotations

from quart import Response

from addons.errors import ApiError
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, services

__all__ = ["bp", "storage_type"]

bp = admin_blueprint("system")


def storage_type(database_url: str | None) -> str:
    """local | mysql | postgresql, from the startup database URL."""
    if not database_url:
        return "local"
    scheme = database_url.split(":", 1)[0].lower()
    if scheme.startswith(("postgres", "pg")):
        return "postgresql"
    if scheme.startswith(("mysql", "mariadb")):
        return "mysql"
    return scheme.split("+", 1)[0] or "local"


def _selection_strategy() -> str:
    return "quota" if services().settings.options.account.refresh.enabled else "random"


def _require_ready() -> None:
    if services().refresher is None:  # set by Services.start once the table is loaded
        raise ApiError(503, "The account directory is not initialised yet",
                       type="server_error", code="directory_not_initialised")


@bp.get("/status")
async def status() -> Response:
    _require_ready()
    svc = services()
    live = sum(1 for a in svc.pool.all() if a.deleted_at is None)
    return json_response({"status": "ok", "size": live, "revision": svc.accounts.revision,
                          "selection_strategy": _selection_strategy(),
                          "inflight": svc.pool.count_inflight(),
                          "clearance": svc.clearance.snapshot()})


@bp.get("/storage")
async def storage() -> Response:
    svc = services()
    return json_response({"type": storage_type(svc.boot.database_url),
                          "redis": svc.boot.redis_url is not None})


@bp.post("/sync")
async def sync() -> Response:
    """Save what is pending here, then merge what other workers and instances wrote
    (state/sync.py)."""
    _require_ready()
    svc = services()
    changed = await svc.accounts.sync_now()
    return json_response({"changed": changed > 0, "count": changed,
                          "revision": svc.accounts.revision})
