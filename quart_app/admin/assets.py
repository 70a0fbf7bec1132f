"""The files accounts hold on grok.com, for operators: list them for every manageable account,
delete one, clear one account, and clear many as a batch task with progress (the machinery of
`batch.py`: sync or `async=true`, SSE progress, cancel).

Requests name an account by its token, as the other account routes do; answers show tokens
masked only. The grok.com calls and what a dead account's answer does to it are
`addons/services/online_assets.py`'s.
"""
from __future__ import annotations

from typing import Any

from quart import Response

from addons.errors import ApiError
from addons.services import online_assets
from addons.services.online_assets import AssetCallFailed
from quart_app.admin.assets_schemas import ClearAssetsToken, DeleteAssetItem
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.batch import batch_tokens, launch, ready_services
from quart_app.admin.common import json_response, read_json
from quart_app.admin.inputs import admin_token, body_object
from quart_app.admin.schemas import checked_body
from quart_app.admin.tokens import not_found
from quart_app.admin.views import mask_token, scrub

__all__ = ["bp"]

bp = admin_blueprint("assets")


def _account(svc: Any, raw: Any) -> str:
    """The token of a known, not deleted account; 400 for a malformed token, 404 otherwise."""
    token = admin_token(raw)
    acc = svc.pool.get(token)
    if acc is None or acc.deleted_at is not None:
        raise not_found(token)
    return token


def _failed(exc: AssetCallFailed, token: str) -> ApiError:
    """A failed grok.com call as the admin's error: its own 404 for an unknown asset, else an
    upstream error (which says when the account was expired for it)."""
    message = scrub(str(exc), token)
    if exc.status == 404:
        return ApiError(404, "grok.com has no such asset for this account",
                        type="validation_error", code="asset_not_found", param="asset_id")
    code = "invalid_credentials" if exc.marker else "upstream_error"
    return ApiError(502, message, type="upstream_error", code=code)


@bp.get("/assets")
async def list_assets() -> Response:
    """Every manageable account's assets, `batch.assets_concurrency` accounts at a time; an
    account whose listing failed carries its `error` and no assets."""
    svc = ready_services()
    tokens = online_assets.manageable_tokens(svc)
    found = await online_assets.list_many(svc, tokens)
    rows = []
    for item in found:
        masked = mask_token(item.token)
        rows.append({"token": masked, "masked": masked, "count": len(item.assets),
                     "assets": [a.to_dict() for a in item.assets],
                     "error": scrub(item.error, item.token) if item.error else None})
    return json_response({"tokens": rows, "total_assets": sum(r["count"] for r in rows)})


@bp.post("/assets/delete-item")
async def delete_item() -> Response:
    body = body_object(checked_body(await read_json(), DeleteAssetItem))
    svc = ready_services()
    token = _account(svc, body.get("token"))
    try:
        await online_assets.delete_one(svc, token, body["asset_id"])
    except AssetCallFailed as exc:
        raise _failed(exc, token) from None
    return json_response({"status": "success"})


@bp.post("/assets/clear-token")
async def clear_token() -> Response:
    body = body_object(checked_body(await read_json(), ClearAssetsToken))
    svc = ready_services()
    token = _account(svc, body.get("token"))
    result = await online_assets.clear_account(svc, token)
    if result.error and not result.deleted:  # nothing done: the call failed as a whole
        raise ApiError(502, scrub(result.error, token), type="upstream_error",
                       code="invalid_credentials" if result.expired else "upstream_error")
    return json_response({"status": "success", **scrub(result.to_dict(), token)})


@bp.post("/batch/cache-clear")
async def batch_cache_clear() -> Response:
    """Delete every online asset of the listed accounts (empty: every manageable account)."""
    tokens = await batch_tokens(allow_empty=True)
    svc = ready_services()
    if not tokens:
        tokens = online_assets.manageable_tokens(svc)

    async def clear(token: str) -> tuple[bool, dict[str, Any]]:
        acc = svc.pool.get(token)
        if acc is None or acc.deleted_at is not None:
            return False, {"error": "unknown account"}
        result = await online_assets.clear_account(svc, token)
        return result.ok, result.to_dict()

    return await launch("cache-clear", tokens, clear, online_assets.concurrency(svc))
