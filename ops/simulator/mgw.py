"""The chat gateway WebSocket `GET /ws/mgw/?uid=…` and the session identity
`GET /api/auth/session` (docs/upstream.md, "The mgw WebSocket").

Same auth, quota, fault and directive semantics as the REST chat: faults injected for the
chat path (or for `/ws/mgw/`) apply here too. HTTP faults and auth failures refuse the
handshake with the REST status and body; a plain (non-upgrade) GET of the endpoint then
replays that refusal once, because a WebSocket client cannot read a refused upgrade's body.
Content comes from chat.py's plan, rewritten into mgw events by mgw_plan.py. Every frame
the client sends is recorded on an `MgwSession` in `state.mgw_sessions`.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ops.simulator.auth import authenticate
from ops.simulator.chat import HTTP_FAULTS, build_plan, parse_directives
from ops.simulator.common import (
    TOKEN_KEY,
    abort_connection,
    admit,
    json_response,
    sim_state,
    sleep_watching,
    to_response,
)
from ops.simulator.errors import HTTP_FAULT_REPLIES, TOO_MANY_REQUESTS, ErrorReply, json_reply
from ops.simulator.mgw_plan import MgwSession, envelope, mgw_events
from ops.simulator.state import (
    ALLOWED_MODES,
    CHAT_PATH,
    MGW_PATH,
    MODES,
    SESSION_PATH,
    Fault,
    SimToken,
    SimulatorState,
)

MAX_FRAME = 16 * 1024 * 1024
UID_MISMATCH = json_reply(403, {"error": {"code": 7, "message": "uid does not match the session",
                                          "details": []}})
UPGRADE_REQUIRED = json_reply(426, {"error": {"code": 9, "message": "WebSocket upgrade required",
                                              "details": []}})


def _cookie(request: web.BaseRequest, name: str) -> str | None:
    for part in request.headers.get("Cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _error_event(code: Any, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


def _reply_event(reply: ErrorReply) -> dict[str, Any]:
    """An HTTP fault expressed in-band (a directive fault arrives after the handshake)."""
    try:
        err = orjson.loads(reply.body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        err = None
    if not isinstance(err, dict):
        err = {"code": reply.status, "message": f"upstream HTTP {reply.status}"}
    return _error_event(err.get("code"), str(err.get("message")))


async def session_handler(request: web.Request) -> web.StreamResponse:
    """Session: `{"status":"authenticated","session":{"userId":…}}`, or the auth error reply."""
    sim, refused = await admit(request, SESSION_PATH, statsig=False)
    if refused is not None:
        return refused
    return json_response({"status": "authenticated", "session": {
        "userId": sim.user_id, "email": f"{sim.user_id[:8]}@simulator.invalid",
        "organizationId": None}})


def _refuse(state: SimulatorState, token: str | None, reply: ErrorReply) -> web.Response:
    state.mgw_refusals[token] = reply
    return to_response(reply)


def _plain_get(request: web.Request, state: SimulatorState, token: str | None) -> web.Response:
    reply = state.mgw_refusals.pop(token, None)
    if reply is None:
        _, reply = authenticate(state, request)
    return to_response(reply or UPGRADE_REQUIRED)


async def mgw_handler(request: web.Request) -> web.StreamResponse:
    state = sim_state(request)
    token = request[TOKEN_KEY]
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return _plain_get(request, state, token)
    fault = state.take_fault(MGW_PATH, token) or state.take_fault(CHAT_PATH, token)
    if fault is not None and fault.name in HTTP_FAULTS:
        return _refuse(state, token, HTTP_FAULT_REPLIES[fault.name])
    sim, err = authenticate(state, request)
    if err is None and sim is not None and (
            request.query.get("uid") != sim.user_id or _cookie(request, "x-userid") != sim.user_id):
        err = UID_MISMATCH
    if err is not None or sim is None:
        return _refuse(state, token, err or UID_MISMATCH)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    record = MgwSession(sim.token, sim.user_id, {k.lower(): v for k, v in request.headers.items()})
    state.add_mgw_session(record)
    await _Session(request, ws, state, sim, record, fault).serve()
    return ws


class _Session:
    """One connection: session setup, then one answer per `response.create`."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, state: SimulatorState,
                 sim: SimToken, record: MgwSession, fault: Fault | None) -> None:
        self.request, self.ws, self.state, self.sim, self.record = request, ws, state, sim, record
        self.fault = fault
        self.sid: str | None = None
        self.model: str | None = None
        self.item: dict[str, Any] | None = None
        self.turn: asyncio.Task[bool] | None = None

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(envelope(self.sid or "", event)).decode())

    async def serve(self) -> None:
        """Read (and record) client frames for the whole connection; an answer streams in a
        task of its own, so pings sent meanwhile are read, and a client that goes away
        cancels the answer at once."""
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    await self.send(_error_event(3, "invalid JSON frame"))
                    continue
                self.record.frames.append(frame)
                event = frame.get("event") if isinstance(frame, dict) else None
                kind = event.get("type") if isinstance(event, dict) else None
                if kind == "session.create":
                    await self._create(frame, event)
                elif kind == "conversation.item.create":
                    self.item = event
                elif kind == "response.create":
                    if self.turn is not None and not self.turn.done():
                        await self.send(_error_event(9, "a response is already in progress"))
                    else:
                        self.turn = asyncio.create_task(self._respond())
                # ping and unknown events are tolerated
        finally:
            turn = self.turn
            if turn is not None and not turn.done():
                turn.cancel()
                await asyncio.wait({turn})

    async def _create(self, frame: dict[str, Any], event: dict[str, Any]) -> None:
        session = event.get("session") if isinstance(event.get("session"), dict) else {}
        x_grok = session.get("x_grok") if isinstance(session.get("x_grok"), dict) else {}
        existing = x_grok.get("conversation_id") or frame.get("session_id")
        self.sid = str(existing) if x_grok.get("load_existing") and existing else str(uuid.uuid4())
        self.record.conversation_id = self.sid
        self.model = session.get("model")
        await self.send({"type": "session.created", "client_event_id": event.get("event_id")})
        await self.send({"type": "conversation.attached", "conversation": {"id": self.sid}})

    def _validate(self) -> tuple[str, str] | dict[str, Any]:
        """(message, mode) or the error event that answers the turn."""
        if self.sid is None or self.item is None:
            return _error_event(3, "response.create before session.create and conversation.item.create")
        mode = self.model
        if mode not in MODES:
            return _error_event(3, f"Unknown model {mode!r}")
        if mode not in ALLOWED_MODES[self.sim.tier]:
            return _error_event(3, f"Mode {mode!r} is not available for a {self.sim.tier} account")
        item = self.item.get("item") if isinstance(self.item.get("item"), dict) else {}
        chunks = (item.get("x_grok") or {}).get("input_chunks") or []
        message = "".join(c["text"].get("text", "") for c in chunks
                          if isinstance(c, dict) and isinstance(c.get("text"), dict))
        if not message.strip():
            return _error_event(3, "message must be a non-empty string")
        for file_id in self.item.get("file_attachment_ids") or item.get("file_attachment_ids") or []:
            found = self.state.files.get(file_id) if isinstance(file_id, str) else None
            if found is None or found.token != self.sim.token:
                return _error_event(3, f"Unknown file attachment {file_id!r}")
        return message, str(mode)

    async def _respond(self) -> bool:
        """Answer one turn; False when the connection was dropped on purpose."""
        checked = self._validate()
        if isinstance(checked, dict):
            await self.send(checked)
            return True
        message, mode = checked
        fault, self.fault = self.fault, None
        directives = parse_directives(message)
        if fault is None and directives.fault in HTTP_FAULTS:
            await self.send(_reply_event(HTTP_FAULT_REPLIES[directives.fault]))
            return True
        plan = build_plan(message, mode, directives, fault.name if fault else None,
                          fault.options if fault else None, conversation_id=self.sid)
        state = self.state
        if state.quota_enabled:  # check and charge without an await in between
            window = state.window(self.sim, mode)
            if window.remaining <= 0:
                await self.send(_error_event(8, TOO_MANY_REQUESTS["error"]["message"]))
                return True
            if plan.consumes_quota:
                window.remaining -= 1
        return await self._stream(plan)

    async def _stream(self, plan: Any) -> bool:
        mplan = mgw_events(plan, self.sid or "")
        state, request = self.state, self.request
        state.active_streams += 1
        state.total_chats += 1
        finished = False
        try:
            if plan.first_byte_delay > 0 and not await sleep_watching(request, plan.first_byte_delay):
                raise ConnectionResetError("client left during first-byte delay")
            last = len(mplan.events) - 1
            for i, (delay, event) in enumerate(mplan.events):
                if i == mplan.stall_at and not await sleep_watching(request, mplan.stall_seconds):
                    raise ConnectionResetError("client left during stall")
                if delay > 0:
                    await asyncio.sleep(delay)
                data = orjson.dumps(event).decode()
                if mplan.truncate_last and i == last:
                    data = data[: len(data) // 2]
                await self.ws.send_str(data)
            finished = True
            if mplan.cut or mplan.truncate_last:
                abort_connection(request)
                return False
            if mplan.close:  # a clean end of the socket, but before the answer's end
                await self.ws.close()
                return False
            return True
        except (ConnectionError, asyncio.CancelledError) as exc:
            state.cancelled_streams += 1
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False
        finally:
            state.active_streams -= 1
            if finished:
                state.completed_streams += 1


def add_mgw_routes(app: web.Application) -> None:
    app.router.add_get(MGW_PATH, mgw_handler)
    app.router.add_get(SESSION_PATH, session_handler)
