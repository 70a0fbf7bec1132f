"""The simulator's aiohttp application: chat stream, rate limits, and server lifecycle
(the mgw WebSocket chat and the session identity endpoint live in mgw.py, uploads in
assets.py, the account's file list and delete in assets_list.py, the CDN in cdn.py, the
imagine WebSocket in imagine.py, the xAI console and the LiveKit token in console.py, media posts and the edit / video streams in mediagen.py,
images a chat draws in drawing.py, ToS / birth date / NSFW in account_settings.py).

Hot path (`_stream`): frames are serialised and HTTP-chunk-framed once per stream before
the first byte; then each frame is one `transport.write`, driven by a shared `Pacer`
tick when a delay is configured (see pacer.py for why).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import HttpVersion11, web

from ops.simulator.account_settings import add_account_routes
from ops.simulator.assets import add_asset_routes
from ops.simulator.cdn import add_cdn_routes
from ops.simulator.auth import authenticate, check_statsig
from ops.simulator.chat import HTTP_FAULTS, ChatPlan, build_plan, parse_directives
from ops.simulator.common import (
    JSON_KEY,
    TOKEN_KEY,
    STATE_KEY,
    abort_connection,
    admit,
    cloudflare_middleware,
    json_response,
    record_middleware,
    sim_state,
    sleep_watching,
    to_response,
)
from ops.simulator.console import add_console_routes
from ops.simulator.control import add_control_routes
from ops.simulator.drawing import drawing_chat, is_drawing
from ops.simulator.imagine import add_imagine_routes
from ops.simulator.mediagen import MEDIA_MODELS, add_media_routes, media_chat
from ops.simulator.mgw import add_mgw_routes
from ops.simulator.errors import HTTP_FAULT_REPLIES, REPLY_TOO_MANY, bad_request, json_reply
from ops.simulator.pacer import Pacer
from ops.simulator.state import ALLOWED_MODES, CHAT_PATH, MODES, RATE_LIMITS_PATH, SimulatorState

_OPT_NL = orjson.OPT_APPEND_NEWLINE
#: Pause between the two halves of a frame in utf8 mode so the client reads them apart.
_UTF8_SPLIT_PAUSE = 0.002
PACERS_KEY: web.AppKey[dict[float, Pacer]] = web.AppKey("grok_sim_pacers", dict)
_STREAM_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _mode_error(mode: str, tier: str) -> web.Response:
    return to_response(json_reply(400, {"error": {
        "code": 3, "message": f"Mode {mode!r} is not available for a {tier} account", "details": []}}))


async def chat_handler(request: web.Request) -> web.StreamResponse:
    state = sim_state(request)
    fault = state.take_fault(CHAT_PATH, request[TOKEN_KEY])
    if fault is not None and fault.name in HTTP_FAULTS:
        return to_response(HTTP_FAULT_REPLIES[fault.name])
    sim, err = authenticate(state, request)
    if err is None:
        err = check_statsig(state, request)
    if err is not None or sim is None:
        return to_response(err) if err is not None else web.Response(status=500)

    payload = request[JSON_KEY]
    if not isinstance(payload, dict):
        return to_response(bad_request("Request body must be a JSON object"))
    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        return to_response(bad_request("message must be a non-empty string"))
    if payload.get("modelName") in MEDIA_MODELS:  # image edit and video: mediagen.py
        return await media_chat(request, sim, payload)
    mode = payload.get("modeId")
    if mode not in MODES:
        return to_response(bad_request(f"Unknown modeId {mode!r}"))
    if mode not in ALLOWED_MODES[sim.tier]:
        return _mode_error(mode, sim.tier)
    attachments = payload.get("fileAttachments") or []
    if not isinstance(attachments, list):
        return to_response(bad_request("fileAttachments must be a list"))
    for file_id in attachments:
        item = state.files.get(file_id) if isinstance(file_id, str) else None
        if item is None or item.token != sim.token:
            return to_response(bad_request(f"Unknown file attachment {file_id!r}"))

    directives = parse_directives(message)
    if fault is None and directives.fault in HTTP_FAULTS:
        return to_response(HTTP_FAULT_REPLIES[directives.fault])
    plan = build_plan(message, mode, directives, fault.name if fault else None,
                      fault.options if fault else None)

    # Check and charge without an await in between, so concurrent calls cannot overdraw.
    if state.quota_enabled:
        window = state.window(sim, mode)
        if window.remaining <= 0:
            return to_response(REPLY_TOO_MANY)
        if plan.consumes_quota:
            window.remaining -= 1
    if fault is None and is_drawing(message):  # images drawn by the chat: drawing.py
        return await drawing_chat(request, state, sim, payload)
    return await _stream(request, state, plan)


def _utf8_split_point(data: bytes) -> int:
    """An index strictly inside the first multi-byte UTF-8 sequence (or the middle)."""
    for i, byte in enumerate(data):
        if byte >= 0xC0:
            return i + 1
    return max(1, len(data) // 2)


def _pacer(request: web.Request, interval: float) -> Pacer:
    pacers = request.app[PACERS_KEY]
    pacer = pacers.get(interval)
    if pacer is None:
        pacer = pacers[interval] = Pacer(interval)
    return pacer


async def _send_raw(request: web.Request, chunks: list[bytes], interval: float, *, first_now: bool) -> None:
    """Write pre-framed chunks straight to the transport, paced by a shared Pacer."""
    if not chunks:
        return
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    if interval <= 0:
        # Everything is in memory already, so buffering it all in the transport is free.
        for chunk in chunks:
            if transport.is_closing():
                raise ConnectionResetError("client went away")
            transport.write(chunk)
        return
    if first_now:
        transport.write(chunks[0])
        chunks = chunks[1:]
    if not await _pacer(request, interval).send(transport, chunks):
        raise ConnectionResetError("client went away")


async def _send_split(request: web.Request, resp: web.StreamResponse, chunks: list[bytes], plan: ChatPlan) -> None:
    """utf8 mode: each frame in two writes cut inside a multi-byte sequence (slow path)."""
    stall_at = plan.stall_at if plan.stall_at is not None else -1
    for i, data in enumerate(chunks):
        if plan.delays[i]:
            await asyncio.sleep(plan.delays[i])
        if i == stall_at and not await sleep_watching(request, plan.stall_seconds):
            raise ConnectionResetError("client left during stall")
        cut = _utf8_split_point(data)
        await resp.write(data[:cut])
        await asyncio.sleep(_UTF8_SPLIT_PAUSE)
        await resp.write(data[cut:])


async def _stream(request: web.Request, state: SimulatorState, plan: ChatPlan) -> web.StreamResponse:
    chunks = [orjson.dumps(frame, option=_OPT_NL) for frame in plan.frames]
    if plan.truncate_last and chunks:
        last = chunks[-1]
        chunks[-1] = last[: len(last) // 2]
    resp = web.StreamResponse(status=200, headers=_STREAM_HEADERS)
    if request.version >= HttpVersion11:
        resp.enable_chunked_encoding()
    state.active_streams += 1
    state.total_chats += 1
    finished = False
    try:
        if plan.first_byte_delay > 0 and not await sleep_watching(request, plan.first_byte_delay):
            raise ConnectionResetError("client left during first-byte delay")
        await resp.prepare(request)
        if plan.split_utf8:
            await _send_split(request, resp, chunks, plan)
        else:
            if resp.chunked:  # frame the HTTP chunks ourselves: one transport write per frame
                chunks = [b"%x\r\n%b\r\n" % (len(c), c) for c in chunks]
            stall_at = plan.stall_at
            if stall_at is None:
                await _send_raw(request, chunks, plan.interval, first_now=True)
            else:
                await _send_raw(request, chunks[:stall_at], plan.interval, first_now=True)
                if not await sleep_watching(request, plan.stall_seconds):
                    raise ConnectionResetError("client left during stall")
                await _send_raw(request, chunks[stall_at:], plan.interval, first_now=stall_at == 0)
        if plan.cut:
            abort_connection(request)
        else:
            await resp.write_eof()
        finished = True
    except (ConnectionError, asyncio.CancelledError) as exc:
        state.cancelled_streams += 1
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        state.active_streams -= 1
        if finished:
            state.completed_streams += 1
    return resp


async def rate_limits_handler(request: web.Request) -> web.StreamResponse:
    state = sim_state(request)
    sim, refused = await admit(request, RATE_LIMITS_PATH)
    if refused is not None:
        return refused
    payload = request[JSON_KEY]
    mode = payload.get("modelName") if isinstance(payload, dict) else None
    if mode not in MODES:
        return to_response(bad_request(f"Unknown modelName {mode!r}"))
    window = state.window(sim, mode)
    answer: dict[str, Any] = {
        "windowSizeSeconds": window.window_seconds,
        "remainingQueries": window.remaining,
        "totalQueries": window.total,
        "lowEffortRateLimits": None,
        "highEffortRateLimits": None,
    }
    if window.remaining <= 0:  # an exhausted mode says when it can be used again
        answer["waitTimeSeconds"] = state.wait_seconds(window)
    return json_response(answer)


async def _close_pacers(app: web.Application) -> None:
    for pacer in app[PACERS_KEY].values():
        pacer.close()


def create_app(state: SimulatorState | None = None) -> web.Application:
    """The simulator app (grok.com, its asset CDN and the `/__sim/` control API)."""
    app = web.Application(middlewares=[record_middleware, cloudflare_middleware],
                          client_max_size=128 * 1024 * 1024)
    app[STATE_KEY] = state if state is not None else SimulatorState()
    app[PACERS_KEY] = {}
    app.on_cleanup.append(_close_pacers)
    app.router.add_post(CHAT_PATH, chat_handler)
    app.router.add_post(RATE_LIMITS_PATH, rate_limits_handler)
    add_asset_routes(app)
    add_cdn_routes(app)
    add_account_routes(app)
    add_mgw_routes(app)
    add_imagine_routes(app)
    add_media_routes(app)
    add_console_routes(app)
    add_control_routes(app)
    return app


@dataclass(slots=True)
class RunningSimulator:
    url: str
    port: int
    state: SimulatorState
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> "RunningSimulator":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state: SimulatorState | None = None,
    *,
    shutdown_timeout: float = 1.0,
) -> RunningSimulator:
    """Serve the simulator on host:port (0 = a free port) inside the running loop."""
    state = state if state is not None else SimulatorState()
    runner = web.AppRunner(create_app(state), handler_cancellation=True, access_log=None,
                           shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)  # bursts of ~1,000 connects
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return RunningSimulator(url=f"http://{host}:{bound}", port=bound, state=state, runner=runner)
