"""The video jobs table: a dead process's running job is failed, a live one's never is."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from state.dbthread import DBThread
from state.video_jobs import INTERRUPTED, VideoJob, VideoJobStore, now_ms, owner_gone

HOST = socket.gethostname()[:100]


def job(job_id: str, owner: str, *, age_sec: float = 0, status: str = "in_progress") -> VideoJob:
    at = now_ms() - int(age_sec * 1000)
    return VideoJob(id=job_id, status=status, model="grok-imagine-video", prompt="p", seconds=6,
                    size="720x1280", resolution="720p", preset="custom", owner=owner,
                    heartbeat_at=at, created_at=at)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_sweep_fails_only_the_jobs_of_processes_that_are_gone(dbthread: DBThread) -> None:
    me = VideoJobStore(dbthread, f"{HOST}:{os.getpid()}:me")
    other_host_live = "elsewhere:1:live"
    other_host_dead = "elsewhere:2:dead"
    here_dead = f"{HOST}:{dead_pid()}:gone"
    for item in (job("video_mine", me.owner, age_sec=600),
                 job("video_live", other_host_live, age_sec=5),
                 job("video_stale", other_host_dead, age_sec=120),
                 job("video_dead_pid", here_dead, age_sec=1),
                 job("video_done", other_host_dead, age_sec=600, status="completed")):
        await me.create(item)
    assert await me.sweep(stale_ms=60_000) == 2
    states = {i: (await me.get(i, 60_000)) for i in
              ("video_mine", "video_live", "video_stale", "video_dead_pid", "video_done")}
    assert states["video_mine"].status == "in_progress"  # never its own
    assert states["video_live"].status == "in_progress"  # a live worker's heartbeat is fresh
    assert states["video_stale"].status == "failed"
    assert states["video_stale"].error_code == INTERRUPTED
    assert states["video_dead_pid"].status == "failed"
    assert states["video_done"].status == "completed"


async def test_reading_a_stale_job_fails_it_and_the_owner_can_no_longer_write_it(
        dbthread: DBThread) -> None:
    owner = VideoJobStore(dbthread, "elsewhere:3:owner")
    reader = VideoJobStore(dbthread, "elsewhere:4:reader")
    await owner.create(job("video_x", owner.owner))
    assert (await reader.get("video_x", 60_000)).status == "in_progress"
    assert await owner.update("video_x", progress=40, heartbeat_at=now_ms() - 120_000)
    found = await reader.get("video_x", 60_000)
    assert found.status == "failed" and found.error_code == INTERRUPTED
    # a late write of the owner does not bring it back
    assert not await owner.update("video_x", status="completed", progress=100)
    assert (await reader.get("video_x", 60_000)).status == "failed"


async def test_a_stop_interrupts_the_own_active_jobs(dbthread: DBThread) -> None:
    store = VideoJobStore(dbthread, "elsewhere:5:stopping")
    await store.create(job("video_a", store.owner))
    await store.create(job("video_b", store.owner, status="queued"))
    await store.create(job("video_c", store.owner, status="completed"))
    assert await store.fail_owned() == 2
    assert (await store.get("video_c", 60_000)).status == "completed"
    assert (await store.get("video_b", 60_000)).error_code == INTERRUPTED


def test_owner_gone_only_for_a_dead_process_of_this_host() -> None:
    assert owner_gone(f"{HOST}:{dead_pid()}:x")
    assert not owner_gone(f"{HOST}:{os.getpid()}:x")
    assert not owner_gone(f"otherhost:{dead_pid()}:x")
    assert not owner_gone("garbage")


async def test_purge_deletes_only_finished_jobs_older_than_the_retention(dbthread: DBThread) -> None:
    store = VideoJobStore(dbthread, f"{HOST}:{os.getpid()}:purge")
    day = 86_400
    for item in (job("video_old_done", store.owner, age_sec=8 * day, status="completed"),
                 job("video_old_failed", store.owner, age_sec=8 * day, status="failed"),
                 job("video_old_running", store.owner, age_sec=8 * day),
                 job("video_new_done", store.owner, age_sec=day, status="completed")):
        await store.create(item)
    assert await store.purge(7 * day * 1000) == 2
    left = {i for i in ("video_old_done", "video_old_failed", "video_old_running", "video_new_done")
            if await store.get(i, 10**12) is not None}
    assert left == {"video_old_running", "video_new_done"}
