"""What every admin module shares: the per-app admin state, JSON in and out."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import orjson
from quart import Response, current_app, request

from addons.errors import validation
from quart_app.admin.listing import CountsCache
from quart_app.admin.sessions import AdminSessions
from quart_app.admin.tasks import TaskRegistry
from quart_app.admin.throttle import AdminThrottle
from quart_app.content_type import require_json

if TYPE_CHECKING:  # pragma: no cover
    from quart_app.services import Services

__all__ = ["ADMIN_EXTENSION", "AdminState", "admin_state", "json_response", "read_json",
           "services"]

log = logging.getLogger(__name__)

ADMIN_EXTENSION = "grok2api_admin"


class AdminState:
    """Per app: the batch task registry, the background jobs admin calls start (the quota
    sync of freshly added accounts), the throttle of wrong admin secrets, the page
    sessions and the account listing's counts. Closed when the server stops."""

    def __init__(self, settings: Any, db_thread: Any) -> None:
        self.tasks = TaskRegistry()
        self.throttle = AdminThrottle(settings)
        self.sessions = AdminSessions(db_thread, settings)
        self.counts = CountsCache()
        self._background: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("admin background job %s failed: %r", task.get_name(), task.exception())

    async def close(self) -> None:
        await self.tasks.close()
        jobs = list(self._background)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


def services() -> Services:
    return current_app.extensions["grok2api"]


def admin_state() -> AdminState:
    return current_app.extensions[ADMIN_EXTENSION]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


async def read_json(*, required: bool = True) -> Any:
    """The request body as JSON; None for an empty body when not `required`."""
    raw = await request.get_data()
    if not raw or not raw.strip():
        if required:
            raise validation("Request body is empty: a JSON body is required")
        return None
    require_json(request.headers)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation(f"Request body is not valid JSON: {exc}") from None
