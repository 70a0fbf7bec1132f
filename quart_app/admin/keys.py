"""Managed client keys for operators (the fork's `/admin/api/keys` routes, with the richer
policy): list with today's usage and remaining quota, create (one or a batch), update, delete,
enable or disable a batch. A key is named by its id or by its full value (hashed to find it).
The value of a key appears only in the answer that creates it.

Every change is written on the database thread and loaded into this process at once; the
other workers and instances load it within `keys.sync_interval_sec`.
"""
from __future__ import annotations

from typing import Any

from quart import Response, request

from addons.errors import ApiError, validation
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import json_response, read_json, services
from quart_app.admin.inputs import body_object
from quart_app.admin.keys_listing import counts, select
from quart_app.admin.keys_schemas import (
    BatchCreateKeys, BatchKeyStatus, CreateKey, DeleteKey, ListKeysQuery, UpdateKey,
)
from quart_app.admin.schemas import checked_body, checked_query
from state.keys import KeyRecord
from state.keys_input import KeyInputError, changed_record, key_view, new_record
from state.keys_store import DuplicateKey

__all__ = ["bp"]

bp = admin_blueprint("keys")


def _model_check(model: str) -> str | None:
    spec = services().catalogue.resolve(model)
    return spec.id if spec is not None else None


def _view(record: KeyRecord) -> dict[str, Any]:
    keys = services().keys
    return key_view(record, keys.usage_today(record.id), keys.today())


def _bad(exc: KeyInputError) -> ApiError:
    return validation(exc.message, exc.param)


def _unknown(param: str = "key") -> ApiError:
    return ApiError(404, "No such API key", type="validation_error", code="key_not_found",
                    param=param)


def _duplicate() -> ApiError:
    return validation("key: a key with this value already exists", "key", "duplicate_key")


async def _find(body: dict[str, Any]) -> KeyRecord:
    """The key a body names by `id` or `key` (a 400 when it names none, a 404 when unknown)."""
    for param in ("id", "key"):
        ident = body.get(param)
        if isinstance(ident, str) and ident.strip():
            keys = services().keys
            await keys.reload()  # a key another worker created a moment ago
            record = keys.resolve(ident.strip())
            if record is None:
                raise _unknown(param)
            return record
    raise validation("key: the key's id or value is required", "key", "missing_key")


@bp.get("/keys")
async def list_keys() -> Response:
    """Every key, or those `q` / `status` select, ordered by `sort` / `order`, paged when
    `page` or `page_size` is given; `counts` are over all keys (the page's stat cards)."""
    query = checked_query(request.args, ListKeysQuery)
    keys = services().keys
    await keys.reload()
    views = [_view(r) for r in keys.all()]
    return json_response({"success": True, "day": keys.today(), "counts": counts(views),
                          **select(views, query)})


@bp.post("/keys")
async def create_key() -> Response:
    body = body_object(checked_body(await read_json(), CreateKey))
    try:
        record, value = new_record(body, _model_check)
    except KeyInputError as exc:
        raise _bad(exc) from None
    try:
        [stored] = await services().keys.create([record])
    except DuplicateKey:
        raise _duplicate() from None
    return json_response({"success": True, "data": {**_view(stored), "key": value}})


@bp.post("/keys/batch")
async def create_keys() -> Response:
    """`count` new keys with generated values, named `<name_prefix>-<n>`, same policy."""
    body = body_object(checked_body(await read_json(), BatchCreateKeys))
    count = int(body.get("count") or 1)
    prefix = (body.get("name_prefix") or "").strip() or "key"
    made: list[tuple[KeyRecord, str]] = []
    try:
        for n in range(1, count + 1):
            made.append(new_record({**body, "key": None, "name": f"{prefix}-{n}"},
                                   _model_check))
    except KeyInputError as exc:
        raise _bad(exc) from None
    try:
        stored = await services().keys.create([r for r, _ in made])
    except DuplicateKey:  # pragma: no cover - generated values do not collide
        raise _duplicate() from None
    return json_response({"success": True, "data": [
        {**_view(rec), "key": value} for rec, (_, value) in zip(stored, made)]})


@bp.post("/keys/update")
async def update_key() -> Response:
    body = body_object(checked_body(await read_json(), UpdateKey))
    record = await _find(body)
    try:
        changed = changed_record(record, body, _model_check)
    except KeyInputError as exc:
        raise _bad(exc) from None
    stored = await services().keys.update(changed)
    if stored is None:
        raise _unknown()
    return json_response({"success": True, "data": _view(stored)})


@bp.post("/keys/delete")
async def delete_key() -> Response:
    body = body_object(checked_body(await read_json(), DeleteKey))
    record = await _find(body)
    if not await services().keys.delete([record.id]):
        raise _unknown()
    return json_response({"success": True})


@bp.post("/keys/batch-status")
async def set_keys_status() -> Response:
    """Enable or disable several keys, all or none: an unknown one is a 404 naming it."""
    body = body_object(checked_body(await read_json(), BatchKeyStatus))
    keys = services().keys
    await keys.reload()
    ids: list[str] = []
    for i, ident in enumerate(body["keys"]):
        record = keys.resolve(ident.strip()) if ident.strip() else None
        if record is None:
            raise _unknown(f"keys[{i}]")
        ids.append(record.id)
    updated = await keys.set_enabled(list(dict.fromkeys(ids)), bool(body["is_active"]))
    return json_response({"success": True, "updated": updated})
