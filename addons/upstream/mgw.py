"""The mgw WebSocket chat transport (docs/upstream.md, "The mgw WebSocket"): `Transport`
over `ws/mgw`.

Per `open()`:
1. the account's user id, from `GET /api/auth/session` once per account, cached in
   memory (a failed lookup is a refused chat with the lookup's status and body);
2. the handshake `GET <ws base>/ws/mgw/?uid=<id>` with the reduced WebSocket headers and
   `x-userid=<id>` appended to the account's Cookie;
3. `session.create` → wait for `session.created` + `conversation.attached` →
   `conversation.item.create` + `response.create` (frames in `mgw_frames.py`);
then `MgwStream` yields the same neutral events as the REST transport.

The handshake is `ws_connect.WsConnector`'s: a refused upgrade becomes a `RefusedStream` with
that status (its body fetched for 400/401/403), so the retry addon's failover works unchanged.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, Mapping
from urllib.parse import quote

import orjson
from curl_cffi import CurlError, CurlWsFlag

from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import Timeouts, TransportError, UpstreamStream, UpstreamTimeout
from addons.upstream.clearance import Via
from addons.upstream.config import DEFAULT_BASE_URL, UpstreamConfig
from addons.upstream.headers import ACCEPT_LANGUAGE
from addons.upstream.mgw_events import MgwEventParser
from addons.upstream.mgw_frames import item_create, now_ms, response_create, session_create
from addons.upstream.mgw_stream import (
    CLOSED_EARLY, PING_INTERVAL, MgwStream, RefusedStream, ws_error_message,
)
from addons.upstream.transport import CurlTransport
from addons.upstream.ws_connect import MAX_FRAME, WsConnector

MGW_PATH = "/ws/mgw/"
SESSION_PATH = "/api/auth/session"
DEFAULT_WS_URL = "wss://grok.com"
__all__ = ["MAX_FRAME", "MgwTransport", "handshake_headers", "sso_of", "user_id_of",
           "ws_base_url"]
_UNAUTHENTICATED = ('{"error":{"code":16,"message":"session is unauthenticated '
                    '[WKE=unauthorized:invalid-credentials]"}}')
_BLOCKED = '{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}'
_ID_KEYS = ("id", "userId", "sub", "email", "teamId")


def ws_base_url(ws_url: str, base_url: str) -> str:
    """`upstream.ws_url`, unless it is the shipped default while `base_url` points elsewhere
    (a mirror or the simulator): then the WebSocket origin follows `base_url`."""
    ws = (ws_url or "").strip().rstrip("/")
    base = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    if ws and not (ws == DEFAULT_WS_URL and base != DEFAULT_BASE_URL):
        return ws
    return "ws" + base[4:] if base.startswith("http") else base


def sso_of(cookie: str) -> str:
    for part in (cookie or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == "sso":
            return value
    return ""


def user_id_of(data: Any) -> str:
    """`session.userId` of a `/api/auth/session` answer, else the fallbacks below."""
    if not isinstance(data, dict):
        return ""
    session, user = data.get("session"), data.get("user")
    candidates: list[Any] = []
    if isinstance(session, dict):
        candidates += [session.get("userId"), session.get("email"), session.get("organizationId")]
    if isinstance(user, dict):
        candidates += [user.get(k) for k in _ID_KEYS]
    candidates += [data.get(k) for k in _ID_KEYS]
    return next((str(c) for c in candidates if isinstance(c, (str, int)) and str(c)), "")


def handshake_headers(rest_headers: Mapping[str, str], user_id: str = "") -> dict[str, str]:
    """The WebSocket handshake set: Origin, User-Agent, Cookie,
    Accept-Language, Cache-Control, Pragma; given a user id, the Cookie gains `x-userid`."""
    h = {k.lower(): v for k, v in rest_headers.items()}
    cookie = "; ".join(p.strip() for p in h.get("cookie", "").split(";")
                       if p.strip() and not p.strip().lower().startswith("x-userid="))
    if user_id:
        cookie = f"{cookie}; x-userid={user_id}" if cookie else f"x-userid={user_id}"
    out = {"Origin": h.get("origin", "https://grok.com"), "User-Agent": h.get("user-agent", ""),
           "Cookie": cookie,
           "Accept-Language": h.get("accept-language", ACCEPT_LANGUAGE),
           "Cache-Control": "no-cache", "Pragma": "no-cache"}
    return {k: v for k, v in out.items() if v}


class MgwTransport:
    """`Transport` over the mgw WebSocket. `rest` serves the short HTTP calls (session lookup
    and refusal bodies); the WebSockets use a session of their own, because an open socket
    holds one of its client slots for the whole answer."""

    def __init__(self, cfg: UpstreamConfig, rest: CurlTransport, *, ws_url: str = "",
                 max_clients: int = 64, ping_interval: float = PING_INTERVAL) -> None:
        self.cfg = cfg
        self.rest = rest
        self.ws_base = ws_base_url(ws_url, cfg.base_url)
        self.ping_interval = ping_interval
        self._ws = WsConnector(cfg, rest, max_clients)
        self._user_ids: dict[str, str] = {}
        self._lookups: dict[str, asyncio.Future[str | RefusedStream]] = {}

    # ---- identity (GET /api/auth/session) -----------------------------------------------

    async def _user_id(self, request: UpstreamRequest, timeout: float,
                       proxy: str | None) -> str | RefusedStream:
        key = sso_of(request.headers.get("Cookie", ""))
        cached = self._user_ids.get(key)
        if cached:
            return cached
        lookup = self._lookups.get(key)
        if lookup is None:  # concurrent first chats of one account share one lookup
            lookup = asyncio.ensure_future(self._lookup(request, timeout, proxy))
            self._lookups[key] = lookup
            lookup.add_done_callback(lambda _f: self._lookups.pop(key, None))
        result = await asyncio.shield(lookup)
        if isinstance(result, str):
            self._user_ids[key] = result
        return result

    async def _lookup(self, request: UpstreamRequest, timeout: float,
                      proxy: str | None) -> str | RefusedStream:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-type", "baggage")}
        headers["x-xai-request-id"] = str(uuid.uuid4())
        status, _, body = await self.rest.request(
            UpstreamRequest("GET", self.cfg.base_url + SESSION_PATH, headers), timeout,
            proxy=proxy)
        text = body.decode("utf-8", "replace")
        if not 200 <= status < 300:
            return RefusedStream(status, text)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise TransportError("session identity: invalid JSON") from None
        state = str(data.get("status") or "").lower() if isinstance(data, dict) else ""
        if state == "unauthenticated":
            return RefusedStream(401, _UNAUTHENTICATED)
        if state == "blocked":
            return RefusedStream(403, _BLOCKED)
        uid = user_id_of(data)
        if not uid:
            raise TransportError("session identity: no user id")
        return uid

    def forget(self, cookie: str) -> None:
        """Drop a cached user id (its handshake was refused for account reasons)."""
        self._user_ids.pop(sso_of(cookie), None)

    # ---- chat -----------------------------------------------------------------------------

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeouts.first_byte
        # one egress for the lookup and the socket: a clearance belongs to one
        proxy = self.cfg.pick_proxy()
        request.via = Via(proxy, self.rest.clearance.generation(proxy))  # what the lookup sends
        try:
            async with asyncio.timeout_at(deadline):
                uid = await self._user_id(request, timeouts.first_byte, proxy)
        except TimeoutError:
            raise UpstreamTimeout("first_byte", timeouts.first_byte) from None
        if isinstance(uid, RefusedStream):
            return uid
        url = f"{self.ws_base}{MGW_PATH}?uid={quote(uid, safe='')}"
        headers, request.via = self.rest.clearance.apply(handshake_headers(request.headers, uid),
                                                         proxy)
        ws = await self._ws.connect(url, headers, timeouts, deadline, proxy)
        if isinstance(ws, RefusedStream):
            if ws.status in (401, 403):
                self.forget(request.headers.get("Cookie", ""))
            return ws
        try:
            async with asyncio.timeout_at(deadline):
                return await self._start_turn(ws, request.json or {}, timeouts, started)
        except TimeoutError:
            ws.terminate()
            raise UpstreamTimeout("first_byte", timeouts.first_byte) from None
        except CurlError as exc:
            ws.terminate()
            raise TransportError(ws_error_message(exc)) from None
        except BaseException:
            ws.terminate()
            raise

    async def _start_turn(self, ws: Any, payload: dict[str, Any], timeouts: Timeouts,
                          started: float) -> MgwStream:
        init_id = f"evt_init_{uuid.uuid4()}"
        parser = MgwEventParser(init_id)
        pending: list[Any] = []
        await ws.send(orjson.dumps(session_create(payload, init_id)), CurlWsFlag.TEXT)
        while not parser.ready and not parser.done:
            message, flags = await ws.recv()
            if flags & CurlWsFlag.CLOSE:
                raise TransportError(CLOSED_EARLY)
            pending += parser.feed(message)
        loop = asyncio.get_running_loop()
        if not parser.done:
            sid = parser.session_id or parser.conversation_id or ""
            ms = now_ms()
            await ws.send(orjson.dumps(item_create(sid, payload, f"evt_msg_{ms}")), CurlWsFlag.TEXT)
            await ws.send(orjson.dumps(response_create(sid, f"evt_resp_{ms}")), CurlWsFlag.TEXT)
        return MgwStream(ws, parser, pending, timeouts, started, loop.time(), self.ping_interval)

    async def aclose(self) -> None:
        await self._ws.aclose()
