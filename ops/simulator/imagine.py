"""The imagine WebSocket `GET /ws/imagine/listen` and `POST /rest/media/imagine/quota_info`.

One request frame (`input_text`, or the older `input_scroll`; a `reset` before it is optional)
makes one round: per image slot a `start_stage`, then `image` frames for the preview, medium
and final stages (the same public URL, a growing base64 `blob` and a rising
`percentage_complete`), then `completed` with `moderated` / `r_rated`. A moderated slot never
gets its final stage and its URL serves nothing. The socket stays open for the next round.

Directives in the prompt (`[[sim …]]`): `moderated=0,2|all` withholds those slots;
`rrated=1|all` marks them R-rated (withheld unless the request enables NSFW and the account
has NSFW on); `error=<err_code>` answers the round with an error frame; `close=1` closes the
socket after the round; `delay_ms=N` paces the frames; `stale=1` answers with the account's
previous final images (their URLs and bytes) instead of new ones, as grok.com sometimes
serves a stale result.

Each image is new: the k-th image an account makes for a prompt (over its rounds and
connections) is `generated_image(prompt, ratio, stage, k)`.

Handshake refusals: an injected HTTP fault for this path (`429`, `403_cloudflare`, …) or a
failed cookie check refuses the upgrade with that status; a plain GET replays the last refusal
(a WebSocket client cannot read a refused upgrade's body).
"""
from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ops.simulator.auth import authenticate
from ops.simulator.chat import HTTP_FAULTS
from ops.simulator.common import TOKEN_KEY, admit, json_response, sim_state, to_response
from ops.simulator.directives import int_directive, media_directives, slot_set
from ops.simulator.errors import HTTP_FAULT_REPLIES, ErrorReply, json_reply
from ops.simulator.media import generated_image, image_size
from ops.simulator.state import (
    IMAGINE_PRODUCTS,
    IMAGINE_QUOTAS,
    IMAGINE_WS_PATH,
    PUBLIC_IMAGES_PREFIX,
    QUOTA_INFO_PATH,
    SimToken,
    SimulatorState,
)

MAX_FRAME = 4 * 1024 * 1024
#: Images per round when the client does not ask for a count: speed mode, pro mode.
SPEED_SLOTS, PRO_SLOTS = 6, 4
#: percentage_complete of each stage's `image` frame.
STAGE_PERCENT = {"preview": 30, "medium": 70, "final": 100}
UPGRADE_REQUIRED = json_reply(426, {"error": {"code": 9, "message": "WebSocket upgrade required",
                                              "details": []}})


@dataclass(slots=True)
class ImagineSession:
    """One accepted imagine connection and the frames the client sent on it."""

    token: str
    headers: dict[str, str]
    frames: list[Any] = field(default_factory=list)
    rounds: int = 0


# ---- quota_info --------------------------------------------------------------------------
def _rfc3339(seconds_from_now: float) -> str:
    moment = datetime.fromtimestamp(time.time() + seconds_from_now, tz=timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def quota_info(state: SimulatorState, sim: SimToken) -> dict[str, Any]:
    """Every product key, null or an object (`available` first; a window when available)."""
    answer: dict[str, Any] = {}
    for product in IMAGINE_PRODUCTS:
        spec = IMAGINE_QUOTAS[sim.tier].get(product)
        if spec is False:
            answer[product] = {"available": False}
        elif spec is None and product not in sim.quotas:
            answer[product] = None
        else:
            win = state.window(sim, product)
            item: dict[str, Any] = {"available": True, "remainingQueries": win.remaining,
                                    "windowSizeSeconds": win.window_seconds}
            if win.remaining <= 0:
                item["nextAvailableAt"] = _rfc3339(state.wait_seconds(win))
            answer[product] = item
    return answer


async def quota_info_handler(request: web.Request) -> web.StreamResponse:
    sim, refused = await admit(request, QUOTA_INFO_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    return json_response(quota_info(sim_state(request), sim))


# ---- the WebSocket -----------------------------------------------------------------------
def _refuse(state: SimulatorState, token: str | None, reply: ErrorReply) -> web.Response:
    state.imagine_refusals[token] = reply
    return to_response(reply)


async def imagine_handler(request: web.Request) -> web.StreamResponse:
    state = sim_state(request)
    token = request[TOKEN_KEY]
    if request.headers.get("Upgrade", "").lower() != "websocket":
        reply = state.imagine_refusals.pop(token, None)
        if reply is None:
            _, reply = authenticate(state, request)
        return to_response(reply or UPGRADE_REQUIRED)
    fault = state.take_fault(IMAGINE_WS_PATH, token)
    if fault is not None and fault.name in HTTP_FAULTS:
        return _refuse(state, token, HTTP_FAULT_REPLIES[fault.name])
    sim, err = authenticate(state, request)
    if err is not None or sim is None:
        return _refuse(state, token, err or UPGRADE_REQUIRED)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=None)
    await ws.prepare(request)
    record = ImagineSession(sim.token, {k.lower(): v for k, v in request.headers.items()})
    state.imagine_sessions.append(record)
    origin = f"{request.scheme}://{request.host}"
    await _Connection(ws, state, sim, record, origin).serve()
    return ws


def _request_content(frame: Any) -> dict[str, Any] | None:
    """The `input_text` / `input_scroll` content of a client frame, or None (reset, ping…)."""
    if not isinstance(frame, dict) or frame.get("type") != "conversation.item.create":
        return None
    item = frame.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") in ("input_text", "input_scroll"):
            return part
    return None


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, state: SimulatorState, sim: SimToken,
                 record: ImagineSession, origin: str) -> None:
        self.ws, self.state, self.sim, self.record, self.origin = ws, state, sim, record, origin
        self.round: asyncio.Task[None] | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(payload).decode())

    async def serve(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    await self.send({"type": "error", "err_code": "invalid_request",
                                     "err_msg": "invalid JSON frame"})
                    continue
                self.record.frames.append(frame)
                content = _request_content(frame)
                if content is None:
                    continue  # a reset (optional) or anything else is tolerated
                if self.round is not None and not self.round.done():
                    self.round.cancel()  # a new request supersedes the running round
                    await asyncio.wait({self.round})
                self.round = asyncio.create_task(self._round(content))
        finally:
            if self.round is not None and not self.round.done():
                self.round.cancel()
                await asyncio.wait({self.round})

    async def _error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "err_code": code, "err_msg": message})

    async def _round(self, content: dict[str, Any]) -> None:
        try:
            await self._run_round(content)
        except ConnectionError:
            pass

    async def _run_round(self, content: dict[str, Any]) -> None:
        prompt = content.get("text")
        props = content.get("properties") if isinstance(content.get("properties"), dict) else {}
        if not isinstance(prompt, str) or not prompt.strip():
            await self._error("invalid_request", "text must be a non-empty string")
            return
        pro = bool(props.get("enable_pro"))
        count = props.get("num_generations")
        slots = count if isinstance(count, int) and 1 <= count <= 10 else (PRO_SLOTS if pro else SPEED_SLOTS)
        ratio = props.get("aspect_ratio") if isinstance(props.get("aspect_ratio"), str) else None
        marks = media_directives(prompt)
        if marks.get("error"):
            await self._error(marks["error"], "simulated error")
            return
        if not self.state.charge_product(self.sim, "imagePro" if pro else "image"):
            await self._error("rate_limit_exceeded", "Too many requests")
            return
        self.record.rounds += 1
        moderated = slot_set(marks.get("moderated"), slots)
        r_rated = slot_set(marks.get("rrated"), slots)
        nsfw_ok = bool(props.get("enable_nsfw")) and self.sim.nsfw
        delay = int_directive(marks, "delay_ms", 0) / 1000
        width, height = image_size(ratio)
        stale = self.state.last_images.get(self.sim.token) if marks.get("stale") in ("1", "true") else None
        first = 0 if stale else self.state.image_serial(self.sim.token, prompt, slots)
        made: list[tuple[str, bytes]] = []
        # a stale answer repeats the earlier images whole: their ids, URLs and bytes
        ids = ([stale[i % len(stale)][0].rsplit("/", 1)[1].removesuffix(".jpg") for i in range(slots)]
               if stale else [str(uuid.uuid4()) for _ in range(slots)])
        for order, image_id in enumerate(ids):
            await self.send({"type": "json", "current_status": "start_stage", "image_id": image_id,
                             "order": order, "width": width, "height": height})
        for order, image_id in enumerate(ids):
            withheld = order in moderated or (order in r_rated and not nsfw_ok)
            path = f"{PUBLIC_IMAGES_PREFIX}{image_id}.jpg"
            stages = ("preview", "medium") if withheld else ("preview", "medium", "final")
            for stage in stages:
                if delay:
                    await asyncio.sleep(delay)
                data = generated_image(prompt, ratio, stage, first + order)
                if stage == "final" and stale:
                    data = stale[order % len(stale)][1]
                elif stage == "final":
                    self.state.add_media(path, data, "image/jpeg", sim=None, public=True, prompt=prompt,
                                         aspect_ratio=ratio, index=first + order, owner=self.sim.token)
                    made.append((path, data))
                await self.send({"type": "image", "url": f"{self.origin}/{path}",
                                 "blob": base64.b64encode(data).decode(),
                                 "percentage_complete": STAGE_PERCENT[stage]})
            await self.send({"type": "json", "current_status": "completed", "image_id": image_id,
                             "order": order, "width": width, "height": height,
                             "moderated": withheld, "r_rated": order in r_rated})
        if made:
            self.state.last_images[self.sim.token] = made
        if marks.get("close") in ("1", "true"):
            await self.ws.close()


def add_imagine_routes(app: web.Application) -> None:
    app.router.add_get(IMAGINE_WS_PATH, imagine_handler)
    app.router.add_post(QUOTA_INFO_PATH, quota_info_handler)
