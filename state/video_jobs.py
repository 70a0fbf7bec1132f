"""The `/v1/videos` jobs table: every read and write runs on the database thread.

A job runs in the process that accepted it. That process is the row's `owner` and keeps
`heartbeat_at` fresh while the job is queued or running (every progress write does too); it
fails its own active rows when it stops. A process that dies without stopping leaves active
rows behind: any process that reads such a row, or sweeps the table (at start and with each
heartbeat), fails it with `video_interrupted` once the owner's heartbeat is older than the
stale limit, or at once when the owner is a process of this host that no longer exists. A
running job of another live worker is therefore never failed: its heartbeat is fresh.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from state.models import VideoJobRow

if TYPE_CHECKING:  # pragma: no cover
    from state.dbthread import DBThread

__all__ = ["ACTIVE", "INTERRUPTED", "VideoJob", "VideoJobStore", "owner_gone"]

ACTIVE = ("queued", "in_progress")
INTERRUPTED = "video_interrupted"
INTERRUPTED_MESSAGE = ("The gateway process running this video stopped before it finished; "
                       "create the video again.")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class VideoJob:
    id: str
    status: str
    model: str
    prompt: str
    seconds: int
    size: str
    resolution: str
    preset: str
    owner: str
    heartbeat_at: int  # ms
    created_at: int  # ms
    progress: int = 0
    media_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    completed_at: int | None = None  # ms

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def owner_gone(owner: str, host: str | None = None) -> bool:
    """True when `owner` (`host:pid:…`, `AccountState.instance`) names a process of this host
    that no longer runs. Another host's process, or one that still runs, is judged by its
    heartbeat alone."""
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != (host or socket.gethostname()[:100]):
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _job(row: VideoJobRow) -> VideoJob:
    return VideoJob(**{f: getattr(row, f) for f in VideoJob.__dataclass_fields__})


# ---- on the database thread ---------------------------------------------------------------
def _insert(job: dict[str, Any]) -> None:
    VideoJobRow.insert(**job).execute()


def _get(job_id: str) -> VideoJob | None:
    row = VideoJobRow.get_or_none(VideoJobRow.id == job_id)
    return _job(row) if row is not None else None


def _update(job_id: str, owner: str, fields: dict[str, Any]) -> int:
    """Only the owner writes its active row: a job another process already failed stays so."""
    return (VideoJobRow.update(**fields)
            .where((VideoJobRow.id == job_id) & (VideoJobRow.owner == owner)
                   & (VideoJobRow.status.in_(ACTIVE))).execute())


def _heartbeat(owner: str, at: int) -> int:
    return (VideoJobRow.update(heartbeat_at=at)
            .where((VideoJobRow.owner == owner) & (VideoJobRow.status.in_(ACTIVE))).execute())


def _interrupt(ids: list[str]) -> int:
    if not ids:
        return 0
    return (VideoJobRow.update(status="failed", error_code=INTERRUPTED,
                               error_message=INTERRUPTED_MESSAGE)
            .where(VideoJobRow.id.in_(ids) & VideoJobRow.status.in_(ACTIVE)).execute())


def _fail_owned(owner: str) -> int:
    ids = [r.id for r in VideoJobRow.select(VideoJobRow.id)
           .where((VideoJobRow.owner == owner) & VideoJobRow.status.in_(ACTIVE))]
    return _interrupt(ids)


def _sweep(me: str, at: int, stale_ms: int) -> int:
    """Fails the active rows of owners that are gone (stale heartbeat, or a dead process of
    this host); never this process's own."""
    rows = (VideoJobRow.select(VideoJobRow.id, VideoJobRow.owner, VideoJobRow.heartbeat_at)
            .where(VideoJobRow.status.in_(ACTIVE) & (VideoJobRow.owner != me)))
    dead = [r.id for r in rows if r.heartbeat_at < at - stale_ms or owner_gone(r.owner)]
    return _interrupt(dead)


def _purge(before: int) -> int:
    return (VideoJobRow.delete()
            .where(VideoJobRow.status.not_in(ACTIVE) & (VideoJobRow.created_at < before))
            .execute())


class VideoJobStore:
    """The async face of the table for one process (`owner`)."""

    def __init__(self, db: DBThread, owner: str) -> None:
        self.db = db
        self.owner = owner

    async def create(self, job: VideoJob) -> None:
        await self.db.run(_insert, asdict(job))

    async def get(self, job_id: str, stale_ms: int) -> VideoJob | None:
        """The job, failed first if it is active and its owner is gone."""
        job = await self.db.run(_get, job_id)
        if job is None or not job.active or job.owner == self.owner:
            return job
        if job.heartbeat_at < now_ms() - stale_ms or owner_gone(job.owner):
            await self.db.run(_interrupt, [job.id])
            job = await self.db.run(_get, job_id)
        return job

    async def update(self, job_id: str, **fields: Any) -> bool:
        """Writes this process's active job (the heartbeat too); False when it is no longer
        active or no longer ours."""
        fields.setdefault("heartbeat_at", now_ms())
        return bool(await self.db.run(_update, job_id, self.owner, fields))

    async def heartbeat(self) -> int:
        return await self.db.run(_heartbeat, self.owner, now_ms())

    async def sweep(self, stale_ms: int) -> int:
        return await self.db.run(_sweep, self.owner, now_ms(), stale_ms)

    async def purge(self, older_than_ms: int) -> int:
        """Deletes the finished jobs created more than `older_than_ms` ago."""
        return await self.db.run(_purge, now_ms() - older_than_ms)

    async def fail_owned(self) -> int:
        """At a stop: this process's unfinished jobs are interrupted, never left running."""
        return await self.db.run(_fail_owned, self.owner)
