"""`/v1/videos` jobs: accepted at once, generated in the background of the accepting process.

A job is a row (`state/video_jobs.py`) and, while it runs, a task here that drives one
pipeline Flow (`Pipeline.open/events/close`, as a chat route does, with the client's headers
so the key is checked and its usage counted): its progress is written to the row at most
every `video.progress_interval_sec`, the finished MP4 is downloaded once into the media cache
with the serving account's cookies while the flow still holds its lease, and the row gets
the file's media id. Any other worker or instance reads the row. A heartbeat keeps this
process's active rows fresh and sweeps the rows of processes that are gone; at a stop the
unfinished jobs of this process are failed (`video_interrupted`), never left running.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from addons.errors import ApiError
from addons.events import MediaProgress, MediaResult
from addons.flow import Flow
from addons.jobs import VideoRequest
from addons.services import video_webhook
from addons.services.links import file_link
from addons.services.media_cache import MediaFetchError
from state.options import Loader
from state.video_jobs import VideoJob, VideoJobStore

log = logging.getLogger(__name__)

FAILED = "video_generation_failed"
DIALECT = "openai.videos"


def new_job_id() -> str:
    return "video_" + os.urandom(16).hex()


def _positive(value: float) -> None:
    if value <= 0:
        raise ValueError("must be greater than 0")


def _not_negative(value: float) -> None:
    if value < 0:
        raise ValueError("must not be negative")


def job_object(job: VideoJob, base: str) -> dict[str, Any]:
    """The job as OpenAI's `video` object (plus this gateway's fields)."""
    data: dict[str, Any] = {
        "id": job.id, "object": "video", "created_at": job.created_at // 1000,
        "status": job.status, "model": job.model, "progress": job.progress,
        "prompt": job.prompt, "seconds": str(job.seconds), "size": job.size,
        "quality": "standard", "resolution_name": job.resolution, "preset": job.preset,
        "completed_at": job.completed_at // 1000 if job.completed_at else None,
        "expires_at": None, "remixed_from_video_id": None, "error": None,
    }
    if job.status == "completed" and job.media_id:
        # the cached file's public link: a browser's <video> can play it without the API key
        # (the unguessable id is the credential); `GET /v1/videos/{id}/content` serves the
        # same bytes to API clients
        data["video_url"] = file_link(base, "video", job.media_id)
    elif job.status == "failed":
        data["error"] = {"code": job.error_code or FAILED,
                         "message": job.error_message or "The video could not be generated."}
    return data


class VideoJobs:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("video.heartbeat_sec", float, 10.0,
                          "Seconds between two heartbeats of this process's running video "
                          "jobs (each also fails the jobs of processes that are gone).",
                          check=_positive)
        loader.add_option("video.stale_after_sec", float, 60.0,
                          "A running video job whose process has not sent a heartbeat for this "
                          "many seconds is failed with `video_interrupted` (its process died). "
                          "Keep it well above video.heartbeat_sec.", check=_positive)
        loader.add_option("video.progress_interval_sec", float, 2.0,
                          "Most frequent progress write of a running video job to the "
                          "database, in seconds.", check=_not_negative)
        loader.add_option("video.retention_days", float, 7.0,
                          "Finished /v1/videos jobs older than this many days are deleted "
                          "(their rows; the MP4 leaves the media cache by its own limit); "
                          "0 keeps them forever.", check=_not_negative)
        loader.add_option("video.webhook_url", str, "",
                          "POST each finished or failed /v1/videos job object here (http or "
                          "https); empty = no webhook.", check=video_webhook.check_url)
        loader.add_option("video.webhook_secret", str, "",
                          "Key of the HMAC-SHA256 body signature sent in "
                          "`X-Grok2api-Signature: sha256=<hex>`; empty = unsigned.")
        loader.add_option("video.webhook_retries", int, 3,
                          "Further webhook deliveries after a refused or failed one.",
                          check=_not_negative)
        loader.add_option("video.webhook_backoff_sec", float, 1.0,
                          "Wait before the first webhook retry; it doubles with each retry.",
                          check=_not_negative)

    def __init__(self, settings: Any, media_output: Any) -> None:
        self.settings = settings
        self.media_output = media_output
        self.store: VideoJobStore | None = None
        self.pipeline: Any = None
        self._runs: dict[str, asyncio.Task] = {}
        self._webhooks: set[asyncio.Task] = set()
        self._beat: asyncio.Task | None = None
        self._next_purge = 0.0

    @property
    def _opts(self) -> Any:
        return self.settings.options.video

    @property
    def stale_ms(self) -> int:
        return int(self._opts.stale_after_sec * 1000)

    # ---- lifecycle ----------------------------------------------------------------------
    async def start(self, store: VideoJobStore, pipeline: Any) -> None:
        self.store, self.pipeline = store, pipeline
        try:
            await store.sweep(self.stale_ms)
            await self._purge()
        except Exception:  # noqa: BLE001 - the heartbeat sweeps again
            log.exception("sweeping interrupted video jobs failed")
        self._beat = asyncio.create_task(self._heartbeat(), name="video-heartbeat")

    async def _heartbeat(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(self._opts.heartbeat_sec)
            try:
                await self.store.heartbeat()
                await self.store.sweep(self.stale_ms)
                if time.monotonic() >= self._next_purge:
                    await self._purge()
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.warning("video job heartbeat failed", exc_info=True)

    async def _purge(self) -> None:
        """Old finished jobs go, at most once an hour (a month of jobs is a long table)."""
        assert self.store is not None
        self._next_purge = time.monotonic() + 3600
        days = self._opts.retention_days
        if days > 0:
            gone = await self.store.purge(int(days * 86_400_000))
            if gone:
                log.info("deleted %d video jobs older than %g days", gone, days)

    async def stop(self) -> None:
        """Cancels the running jobs and fails their rows (`video_interrupted`)."""
        tasks = [t for t in (self._beat, *self._runs.values(), *self._webhooks) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self.store is not None:
            try:
                count = await self.store.fail_owned()
                if count:
                    log.warning("%d unfinished video job(s) marked interrupted at shutdown", count)
            except Exception:  # noqa: BLE001
                log.exception("marking interrupted video jobs failed")

    # ---- jobs ---------------------------------------------------------------------------
    async def submit(self, job: VideoJob, request: VideoRequest, headers: Mapping[str, str],
                     base: str) -> None:
        """Saves the queued job and starts it; returns at once."""
        assert self.store is not None
        await self.store.create(job)
        task = asyncio.create_task(self._run(job, request, dict(headers), base),
                                   name=f"video-{job.id}")
        self._runs[job.id] = task
        task.add_done_callback(lambda _t: self._runs.pop(job.id, None))

    async def _run(self, job: VideoJob, request: VideoRequest, headers: dict[str, str],
                   base: str) -> None:
        assert self.store is not None
        flow = Flow(client_headers=headers, dialect=DIALECT, id=job.id)
        fields: dict[str, Any]
        try:
            fields = await self._generate(flow, job, request)
        except ApiError as exc:
            fields = {"status": "failed", "error_code": FAILED, "error_message": exc.message}
        except MediaFetchError as exc:
            fields = {"status": "failed", "error_code": FAILED,
                      "error_message": f"The video was made but could not be downloaded: {exc}"}
        except asyncio.CancelledError:
            raise  # a stop: `stop()` marks the row interrupted
        except Exception:  # noqa: BLE001
            log.exception("video job %s failed", job.id)
            fields = {"status": "failed", "error_code": FAILED,
                      "error_message": "The gateway failed while generating the video."}
        finally:
            await self.pipeline.close(flow)
        if fields["status"] == "completed":
            fields.update(progress=100, completed_at=int(time.time() * 1000))
        try:
            await self.store.update(job.id, **fields)
        except Exception:  # noqa: BLE001 - the heartbeat stops, the sweep fails the row
            log.exception("saving the outcome of video job %s failed", job.id)
            return
        self._notify(job.id, base)

    async def _generate(self, flow: Flow, job: VideoJob, request: VideoRequest) -> dict[str, Any]:
        assert self.store is not None
        await self.pipeline.open(flow, lambda: request)
        await self.store.update(job.id, status="in_progress", progress=1)
        loop = asyncio.get_running_loop()
        interval = self._opts.progress_interval_sec
        written, written_at = 1, loop.time()
        result: MediaResult | None = None
        async for batch in self.pipeline.events(flow):
            for ev in batch:
                if type(ev) is MediaResult and ev.kind == "video":
                    result = ev
                elif type(ev) is MediaProgress and ev.kind == "video":
                    progress = max(1, min(99, ev.progress))
                    if progress > written and loop.time() - written_at >= interval:
                        written, written_at = progress, loop.time()
                        await self.store.update(job.id, progress=progress)
        if result is None:
            raise ApiError(502, "The upstream finished without a video.", code=FAILED)
        # the lease is held until the flow closes: the download uses its account's cookies
        media = await self.media_output.file(result, flow.lease.token)
        return {"status": "completed", "media_id": media.id}

    def _notify(self, job_id: str, base: str) -> None:
        """Starts the webhook delivery of the finished job, if one is configured."""
        opts = self._opts
        if not opts.webhook_url:
            return
        task = asyncio.create_task(self._deliver(job_id, base, opts.webhook_url,
                                                 opts.webhook_secret, opts.webhook_retries,
                                                 opts.webhook_backoff_sec))
        self._webhooks.add(task)
        task.add_done_callback(self._webhooks.discard)

    async def _deliver(self, job_id: str, base: str, url: str, secret: str, retries: int,
                       backoff: float) -> None:
        assert self.store is not None
        try:
            job = await self.store.get(job_id, self.stale_ms)
            if job is None:
                return
            body = orjson.dumps(job_object(job, base))
            await video_webhook.deliver(url, body, secret, retries=retries, backoff=backoff)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("video webhook of %s failed", job_id)
