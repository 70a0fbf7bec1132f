"""Batch operations with progress: quota refresh and the NSFW sequence over many accounts
(the online-asset clear is in `assets.py`, on the same machinery: `batch_tokens`, `launch`),
in the request (`async=false`, the default) or as a background task (`async=true`) followed
over SSE, cancellable. Tokens are masked in every result.

The NSFW sequence lives in `addons/services/nsfw.py` (`nsfw_enable(services, token)`, and
`nsfw_disable` for `enabled=false`). It is imported when a batch asks for it: while the module
or the function is missing, the route answers `501 not_implemented`."""
from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from quart import Response, request

from addons.errors import ApiError
from quart_app import sse
from quart_app.admin.auth import admin_blueprint
from quart_app.admin.common import admin_state, json_response, read_json, services
from quart_app.admin.inputs import MAX_CONCURRENCY, query_bool, query_int, token_list
from quart_app.admin.schemas import BatchQuery, TokensBody, checked_body, checked_query
from quart_app.admin.tasks import Action, BatchTask
from quart_app.admin.views import NSFW_TAG

__all__ = ["batch_tokens", "bp", "launch", "nsfw_outcome", "progress_stream", "ready_services"]

bp = admin_blueprint("batch")
NSFW_MODULE = "addons.services.nsfw"


def _task(task_id: str) -> BatchTask:
    task = admin_state().tasks.get(task_id)
    if task is None:
        raise ApiError(404, f"Batch task {task_id!r} not found (finished tasks are kept 5 min)",
                       type="validation_error", code="task_not_found", param="task_id")
    return task


async def batch_tokens(*, allow_empty: bool) -> list[str]:
    body = checked_body(await read_json(required=not allow_empty), TokensBody)
    raw = body.get("tokens") if isinstance(body, dict) else body
    if body is not None and not isinstance(body, (dict, list)):
        raise ApiError(400, "Request body must be {\"tokens\": [...]}",
                       type="validation_error", code="invalid_value")
    return token_list(raw, allow_empty=allow_empty)


async def launch(kind: str, tokens: list[str], action: Action, default_conc: int) -> Response:
    args = request.args
    checked_query(args, BatchQuery)
    run_async = query_bool(args, "async", False)
    concurrency = query_int(args, "concurrency", max(1, min(default_conc, MAX_CONCURRENCY)),
                            low=1, high=MAX_CONCURRENCY)
    registry = admin_state().tasks
    if run_async:
        task = registry.start(kind, tokens, action, concurrency)
        return json_response({"status": "success", "task_id": task.id, "total": task.total})
    task = await registry.run_now(kind, tokens, action, concurrency)
    return json_response(task.result())


def ready_services() -> Any:
    svc = services()
    if svc.refresher is None:
        raise ApiError(503, "The account directory is not initialised yet",
                       type="server_error", code="directory_not_initialised")
    return svc


@bp.post("/batch/refresh")
async def batch_refresh() -> Response:
    """Refresh real quota per account; an account fails when no real numbers came back."""
    tokens = await batch_tokens(allow_empty=False)
    svc = ready_services()

    async def refresh(token: str) -> tuple[bool, dict[str, Any]]:
        result = await svc.refresher.refresh_account(token)
        return result.ok, result.to_dict()

    return await launch("refresh", tokens, refresh,
                         svc.settings.options.account.refresh.usage_concurrency)


def nsfw_outcome(value: Any) -> tuple[bool, dict[str, Any]]:
    """Whatever the NSFW function returned → (ok, detail): a bool, None (success), a dict with
    `success`/`ok`, an (ok, detail) pair, or an object with `to_dict()` / a dataclass."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        return bool(value[0]), dict(value[1])
    if value is None or isinstance(value, bool):
        ok = value is None or value
        return ok, {"success": ok}
    if isinstance(value, dict):
        detail = dict(value)
    elif callable(getattr(value, "to_dict", None)):
        detail = dict(value.to_dict())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        detail = dataclasses.asdict(value)
    else:
        return True, {"success": True, "result": str(value)[:300]}
    flag = getattr(value, "success", getattr(value, "ok", None))
    if flag is None:
        flag = detail.get("success", detail.get("ok", "error" not in detail))
    return bool(flag), detail


def _nsfw_function(enabled: bool) -> Callable[[Any, str], Awaitable[Any]]:
    name = "nsfw_enable" if enabled else "nsfw_disable"
    try:
        module = importlib.import_module(NSFW_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != NSFW_MODULE:
            raise
        module = None
    func = getattr(module, name, None)
    if func is None:
        raise ApiError(501, f"The NSFW sequence is not available in this build "
                       f"({NSFW_MODULE}.{name} is missing)", type="server_error",
                       code="not_implemented")
    return func


@bp.post("/batch/nsfw")
async def batch_nsfw() -> Response:
    """Run the NSFW sequence (`enabled=true`, default) or turn it off per account; an empty
    list means every live account (active or cooling). `batch.nsfw_concurrency` accounts at a
    time unless the query's `concurrency` says otherwise."""
    enabled = query_bool(request.args, "enabled", True)
    tokens = await batch_tokens(allow_empty=True)
    func = _nsfw_function(enabled)
    svc = ready_services()
    if not tokens:
        tokens = [a.token for a in svc.pool.all()
                  if a.deleted_at is None and a.status in ("active", "cooling")]

    async def toggle(token: str) -> tuple[bool, dict[str, Any]]:
        ok, detail = nsfw_outcome(await func(svc, token))
        acc = svc.pool.get(token)
        if ok and acc is not None:  # the tag follows the outcome, saved without the delay
            if (NSFW_TAG in acc.tags) != enabled:
                acc.tags = ([*acc.tags, NSFW_TAG] if enabled
                            else [t for t in acc.tags if t != NSFW_TAG])
            svc.pool.save_now(acc)
        return ok, detail

    return await launch("nsfw", tokens, toggle,
                         svc.settings.options.batch.nsfw_concurrency)


@bp.get("/batch/<task_id>")
async def batch_status(task_id: str) -> Response:
    task = _task(task_id)
    body: dict[str, Any] = task.snapshot()
    terminal = task.terminal_event()
    if terminal is not None:
        body["result"] = terminal["result"]
    return json_response(body)


async def progress_stream(task: BatchTask, heartbeat: float) -> AsyncIterator[bytes]:
    """`: ping` at once (a vanished reader is noticed on the next write), the snapshot, each
    event as it happens, `: ping` after `heartbeat` seconds of silence; ends after the
    terminal event."""
    queue = task.subscribe()
    try:
        yield sse.PING
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                yield sse.PING
                continue
            if event is None:
                return
            yield sse.data(event)
    finally:
        task.unsubscribe(queue)


@bp.get("/batch/<task_id>/stream")
async def batch_stream(task_id: str) -> Response:
    task = _task(task_id)
    return sse.sse_response(progress_stream(task, admin_state().tasks.heartbeat))


@bp.post("/batch/<task_id>/cancel")
async def batch_cancel(task_id: str) -> Response:
    task = _task(task_id)
    cancelled = task.cancel()
    return json_response({"status": "success", "task_id": task.id, "cancelled": cancelled,
                          "task_status": task.status})
