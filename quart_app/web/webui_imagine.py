"""`WS /webui/api/imagine/ws`: images drawn while the page watches (api-surface §10.10).

The key comes from `Authorization` (raw or Bearer) or `?access_token=`, or an admin page
session with `?csrf=` (`webui_auth`); a refused socket is closed with 1008 before it is
accepted. Then JSON text frames:

* client: `{"type":"start","prompt","aspect_ratio","quality","nsfw","count","model"?}`
  (`count` clamped to 1–6, default 6; a quality other than `quality` is `speed`, which
  draws with `grok-imagine-image`, `quality` with `grok-imagine-image-pro`; `aspect_ratio`
  a ratio or a pixel size of `media_options.IMAGE_SIZES`). A new start stops the run before
  it; `{"type":"stop"}` stops; `{"type":"ping"}` is answered `{"type":"pong"}`.
* server: `status` running → `progress` per slot step → `image` (a link to the gateway's
  copy, as `/v1/images/generations` gives) or `moderated` per slot → `status` completed or
  stopped; `error` with a `code` of the spec's list and the gateway's own message.

Each run is one image job through the pipeline (`ImageRequest`, streamed: the imagine socket
to grok.com, failover before the first image), so accounts, retries, usage and the audit
work as for `/v1/images/generations`; the audit names it `webui.imagine`.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import orjson
from quart import Blueprint, current_app, websocket

from addons import media_options as opt
from addons.errors import ApiError
from addons.events import MediaModerated, MediaProgress, MediaResult, Restart
from addons.flow import ClientKey, Flow
from addons.jobs import ImageRequest
from addons.services.media_cache import MediaFetchError
from quart_app.web.webui_api import webui_auth

__all__ = ["bp", "imagine_socket"]

log = logging.getLogger(__name__)

bp = Blueprint("webui_imagine", __name__, url_prefix="/webui/api")

DIALECT = "webui.imagine"
MAX_COUNT = 6
MODELS = {"speed": "grok-imagine-image", "quality": "grok-imagine-image-pro"}
POLICY_VIOLATION = 1008


def _code(err: ApiError) -> str:
    """The spec's error codes, from the gateway's error."""
    if err.status == 429:
        return "rate_limit_exceeded"
    if err.status == 400:
        return "invalid_prompt" if err.param == "prompt" or err.code == \
            "content_policy_violation" else "invalid_payload"
    return "internal_error"


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MAX_COUNT
    return max(1, min(MAX_COUNT, int(value)))


def parse_start(message: dict[str, Any], catalogue: Any) -> tuple[ImageRequest, str, bool]:
    """The image job of a `start` frame, its quality and whether NSFW is allowed; a 400
    ApiError naming the field when something is wrong."""
    prompt = opt.prompt(message.get("prompt"))
    quality = message.get("quality") if message.get("quality") in MODELS else "speed"
    model = message.get("model") or MODELS[quality]
    spec = catalogue.resolve(model) if isinstance(model, str) else None
    if spec is None or spec.capability != "image" or not catalogue.is_enabled(spec):
        raise ApiError(400, f"Model '{model}' is not an enabled image model",
                       type="validation_error", code="model_not_found", param="model")
    ratio = message.get("aspect_ratio") or "1:1"
    size = opt.image_size(ratio if isinstance(ratio, str) else None, "aspect_ratio")
    job = ImageRequest(model=spec.id, stream=True, prompt=prompt,
                       n=min(_count(message.get("count")), opt.IMAGE_N.get(spec.id, MAX_COUNT)),
                       size=size, response_format="url")
    return job, quality, message.get("nsfw") is not False


class ImagineSession:
    """One socket: at most one run at a time, frames sent one at a time."""

    def __init__(self, client: ClientKey) -> None:
        self.client = client
        self.svc = current_app.extensions["grok2api"]
        # lower-case names, as the fast path hands the chain a request's headers
        self.headers = {k.lower(): v for k, v in websocket.headers.items()}
        self.run: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await websocket.send(orjson.dumps(frame).decode())

    async def error(self, err: ApiError, run_id: str | None = None) -> None:
        frame = {"type": "error", "message": err.message, "code": _code(err),
                 "param": err.param}
        if run_id:
            frame["run_id"] = run_id
        await self.send(frame)

    async def serve(self) -> None:
        try:
            while True:
                raw = await websocket.receive()
                try:
                    message = orjson.loads(raw)
                    if not isinstance(message, dict):
                        raise ValueError
                except ValueError:
                    await self.send({"type": "error", "message": "A frame must be a JSON object",
                                     "code": "invalid_payload"})
                    continue
                kind = message.get("type")
                if kind == "ping":
                    await self.send({"type": "pong"})
                elif kind == "stop":
                    await self.stop()
                elif kind == "start":
                    await self.start(message)
                else:
                    await self.send({"type": "error", "code": "invalid_action",
                                     "message": f"Unknown frame type {kind!r}: start, stop "
                                                "or ping"})
        finally:
            await self.stop(quiet=True)

    async def stop(self, quiet: bool = False) -> None:
        run, self.run = self.run, None
        if run is not None and not run.done():
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            if not quiet:
                await self.send({"type": "status", "status": "stopped",
                                 "run_id": run.get_name()})

    async def start(self, message: dict[str, Any]) -> None:
        await self.stop()
        try:
            job, quality, nsfw = parse_start(message, self.svc.catalogue)
        except ApiError as err:
            await self.error(err)
            return
        run_id = os.urandom(8).hex()
        await self.send({"type": "status", "status": "running", "prompt": job.prompt,
                         "aspect_ratio": opt.IMAGE_SIZES[job.size], "run_id": run_id,
                         "count": job.n, "quality": quality, "model": job.model})
        self.run = asyncio.get_running_loop().create_task(self.generate(job, nsfw, run_id),
                                                          name=run_id)

    async def generate(self, job: ImageRequest, nsfw: bool, run_id: str) -> None:
        svc = self.svc
        svc.settings.reload_if_changed()
        flow = Flow(client_headers=self.headers, client=self.client, dialect=DIALECT)
        flow.nsfw_allowed = nsfw
        base = svc.media_output.base(self.headers)
        delivered = 0
        try:
            await svc.pipeline.open(flow, lambda: job)
            async for batch in svc.pipeline.events(flow):
                for ev in batch:
                    cls = type(ev)
                    if cls is MediaProgress and ev.kind == "image":
                        await self.send({"type": "progress", "image_id": f"{run_id}-{ev.index}",
                                         "order": ev.index,
                                         "progress": max(1, min(99, ev.progress)),
                                         "run_id": run_id})
                    elif cls is MediaResult and ev.kind == "image":
                        try:
                            url = await svc.media_output.link(ev, flow.lease.token, base)
                        except MediaFetchError as exc:
                            log.warning("imagine %s: an image is left out: %s", run_id, exc)
                            continue
                        delivered += 1
                        await self.send({"type": "image", "image_id": f"{run_id}-{ev.index}",
                                         "order": ev.index, "stage": "final", "url": url,
                                         "aspect_ratio": opt.IMAGE_SIZES[job.size],
                                         "is_final": True,
                                         "moderated": False, "r_rated": False,
                                         "run_id": run_id})
                    elif cls is MediaModerated:
                        await self.send({"type": "moderated", "image_id": f"{run_id}-{ev.index}",
                                         "order": ev.index, "run_id": run_id})
                    elif cls is Restart:  # another account starts over: the same slots again
                        delivered = 0
            if not delivered:
                raise ApiError(502, "The generated images could not be retrieved from grok.com",
                               type="upstream_error", code="media_unavailable")
            await self.send({"type": "status", "status": "completed", "run_id": run_id,
                             "count": delivered})
        except ApiError as err:
            await self.error(err, run_id)
            await self.send({"type": "status", "status": "completed", "run_id": run_id,
                             "count": delivered})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the socket outlives one failed run
            log.exception("imagine run %s failed", run_id)
            await self.error(ApiError(500, "The run failed inside the gateway",
                                      type="server_error", code="internal_error"), run_id)
        finally:
            await asyncio.shield(svc.pipeline.close(flow))


@bp.websocket("/imagine/ws")
async def imagine_socket() -> None:
    try:
        client = await webui_auth().client(websocket.headers, unsafe=True, socket=True,
                                           query=websocket.args)
    except ApiError:
        await websocket.close(POLICY_VIOLATION)  # before accept: the handshake is refused
        return
    await websocket.accept()
    await ImagineSession(client).serve()
