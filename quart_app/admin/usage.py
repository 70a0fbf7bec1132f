"""Usage for operators: `GET /admin/api/metrics` (the datacenter's numbers: accounts, the
media cache, request statistics) and `GET /admin/api/usage` (chart series by key, model,
endpoint or account tier). Both read what every process saved; this process's pending
increments are saved first, so a request that just ended is counted."""
from __future__ import annotations

import logging
import time
from typing import Any

from quart import Response, request

from addons.errors import validation
from addons.services.media_index import KINDS
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, services
from quart_app.admin.schemas import checked_query
from quart_app.admin.usage_schemas import UsageQuery
from state.usage_query import request_stats, usage_series

__all__ = ["bp", "save_pending"]

log = logging.getLogger(__name__)

bp = admin_blueprint("usage")

#: the range a usage query covers when it names none
DEFAULT_RANGE_SEC = 24 * 3600


async def save_pending() -> None:
    """This process's usage and audit rows, saved now (a failure leaves them pending: the
    answer then shows what the database holds)."""
    try:
        await services().accounts.ledger.flush_now()
    except Exception:  # noqa: BLE001 - logged by the book; the read goes on
        log.debug("saving pending usage before a read failed", exc_info=True)


def _token_stats() -> dict[str, Any]:
    out = {"total": 0, "active": 0, "cooling": 0, "expired": 0, "disabled": 0,
           "chat_quota": 0, "image_quota": 0, "total_calls": 0}
    for acc in services().pool.all():
        if acc.deleted_at is not None:
            continue
        out["total"] += 1
        if acc.status in ("active", "cooling", "expired", "disabled"):
            out[acc.status] += 1
        out["total_calls"] += acc.usage_use_count
        if acc.status == "active":
            out["chat_quota"] += sum(max(0, w.remaining) for w in acc.quota.values())
    out["image_quota"] = out["chat_quota"] // 2
    return out


@bp.get("/metrics")
async def metrics() -> Response:
    svc = services()
    await save_pending()
    stats = await svc.accounts.thread.run(request_stats)
    cache = {f"local_{kind}": (await svc.media.stats(kind)).to_dict() for kind in KINDS}
    return json_response({"tokens": _token_stats(), "cache": cache, "request_stats": stats})


@bp.get("/usage")
async def usage() -> Response:
    query = checked_query(request.args, UsageQuery)
    end = query.to if query.to is not None else int(time.time())
    start = query.from_ if query.from_ is not None else end - DEFAULT_RANGE_SEC
    if start > end:
        raise validation("from: must not be later than to", "from")
    await save_pending()
    series = await services().accounts.thread.run(usage_series, start, end, query.group_by,
                                                  query.key)
    return json_response(series)
