"""OpenAI's video surface: `POST /v1/videos` (JSON or multipart) and its alias
`POST /v1/videos/generations` (JSON) accept a job and answer it queued at once;
`GET /v1/videos/{id}` shows it; `GET /v1/videos/{id}/content` streams the finished MP4 from
the local media cache (Range, ETag: the file routes' serving code).

Every route checks the API key first (the chain's request-header hooks). The body is
checked completely before the job exists (a 400 naming the field); the generation runs in
the background (`addons/services/video_jobs.py`), and the job is a database row, so any
worker answers the GETs.
"""
from __future__ import annotations

import time

from quart import Blueprint, Response, request

from addons.errors import ApiError, no_account, validation
from addons.services.catalogue import Catalogue
from addons.jobs import Attachment, VideoRequest
from addons.services.video_jobs import job_object, new_job_id
from quart_app.content_type import require_json
from quart_app.dialects.video_request import PARAM, parse_form, parse_json, uploaded_reference
from quart_app.routes_files import serve_file
from quart_app.routes_v1 import authenticate, json_response, services
from state.video_jobs import VideoJob

bp = Blueprint("videos", __name__, url_prefix="/v1/videos")

#: the ids this gateway makes are shorter; anything longer is not one
MAX_ID = 64


async def _parse(form_allowed: bool, max_bytes: int) -> VideoRequest:
    if form_allowed and request.mimetype == "multipart/form-data":
        form = await request.form
        files = await request.files
        uploads: list[Attachment] = []
        for storage in [*files.getlist(PARAM), *files.getlist(PARAM + "[]")]:
            data = storage.read()
            uploads.append(uploaded_reference(data, storage.mimetype, storage.filename,
                                              len(uploads), max_bytes))
        fields = {k: v for k, v in form.items() if k not in (PARAM, PARAM + "[]")}
        refs = form.getlist(PARAM) + form.getlist(PARAM + "[]")  # URLs sent as text
        if refs:
            fields[PARAM] = refs
        return parse_form(fields, uploads, max_bytes)
    require_json(request.headers)
    return parse_json(await request.get_data(), max_bytes)


async def _create(form_allowed: bool) -> Response:
    await authenticate()
    svc = services()
    job_request = await _parse(form_allowed, svc.settings.options.attachments.max_file_bytes)
    spec = svc.catalogue.resolve(job_request.model)
    if spec is None or spec.capability != "video":
        raise validation(f"Model '{job_request.model}' is not a video model of this gateway",
                         "model", code="model_not_found")
    if not svc.pool.has_usable(Catalogue.usable_pools(spec), spec.mode):
        # no account of a tier that makes videos: say so now, not with a failed job later
        raise no_account(spec.id)
    now = int(time.time() * 1000)
    job = VideoJob(id=new_job_id(), status="queued", model=spec.id, prompt=job_request.prompt,
                   seconds=job_request.seconds, size=job_request.size,
                   resolution=job_request.resolution, preset=job_request.preset,
                   owner=svc.videos.store.owner, heartbeat_at=now, created_at=now)
    headers = {k.lower(): v for k, v in request.headers.items()}
    base = svc.media_output.base(request.headers)
    await svc.videos.submit(job, job_request, headers, base)
    return json_response(job_object(job, base))


@bp.post("")
async def create_video() -> Response:
    return await _create(form_allowed=True)


@bp.post("/generations")
async def create_video_generation() -> Response:
    return await _create(form_allowed=False)


async def _job(video_id: str) -> VideoJob:
    await authenticate()
    svc = services()
    job = None
    if len(video_id) <= MAX_ID:
        job = await svc.videos.store.get(video_id, svc.videos.stale_ms)
    if job is None:
        raise ApiError(404, f"No video with id '{video_id[:MAX_ID]}'.",
                       type="invalid_request_error", code="video_not_found", param="video_id")
    return job


@bp.get("/<video_id>")
async def get_video(video_id: str) -> Response:
    job = await _job(video_id)
    return json_response(job_object(job, services().media_output.base(request.headers)))


@bp.get("/<video_id>/content")
async def video_content(video_id: str) -> Response:
    job = await _job(video_id)
    if job.status != "completed":
        raise ApiError(409, f"Video '{job.id}' is not ready (status {job.status}).",
                       type="invalid_request_error", code="video_not_ready")
    media = services().media.find("video", job.media_id or "")
    if media is None:
        raise ApiError(404, "The video file is no longer in this gateway's media cache.",
                       type="invalid_request_error", code="file_not_found", param="video_id")
    return serve_file(media, {"Content-Disposition": f'attachment; filename="{job.id}.mp4"'})

