"""The imagine WebSocket transport (docs/upstream.md, "The imagine WebSocket"): `Transport`
over `GET <ws base>/ws/imagine/listen` for the `image` jobs.

One connection per account, kept open between requests: a request takes its account's idle
connection (or opens one; a second concurrent request of the same account opens one of its
own, closed after use), runs rounds on it and gives it back when the answer ended cleanly.
An idle connection is pinged every `PING_INTERVAL` seconds and closed after `IDLE_KEEP`
seconds unused; at most `MAX_IDLE` are kept (the oldest closed first), and all are closed
when the transport is.

A request runs rounds (`imagine_frames.request_frames`: a reset, then the prompt with
`num_generations`) until it has `request.count` images: each round asks for what is missing,
at most the images grok.com makes per round (6, or 4 in pro mode); a round that brings
nothing new ends it (no padding with duplicates). A socket the server closed is reopened
for the next round; a round cut before any frame is sent once more on a new socket.

The handshake is `ws_connect.WsConnector`'s. A refused upgrade with 429 is the try's answer
(the retry addon cools the account's mode, as for a chat 429), and so is a Cloudflare
challenge (403 with the challenge page: the clearance addon answers it as for a chat). Any
other refusal, a socket that cannot be opened, and a first round that fails (an error frame
other than a rate limit, a socket that breaks or goes silent) before any image arrived hand
the try to `request.fallback`, the chat-based image path (`imagine_chat.py`), on the same
account.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, AsyncIterator

import orjson
from curl_cffi import CurlError, CurlWsFlag
from curl_cffi.requests.websockets import WebSocketTimeout

from addons.events import End, Event, Heartbeat, UpstreamFailure
from addons.upstream.base import Timeouts, TransportError, UpstreamStream, UpstreamTimeout
from addons.upstream.classify import is_cloudflare_challenge
from addons.upstream.config import UpstreamConfig
from addons.upstream.imagine_chat import ChatImageTransport
from addons.upstream.imagine_frames import PRO_ROUND, SPEED_ROUND, ImagineRound, request_frames
from addons.upstream.mgw import handshake_headers, sso_of, ws_base_url
from addons.upstream.mgw_stream import RefusedStream, buffered, ws_error_message
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest
from addons.upstream.ws_connect import WsConnector

log = logging.getLogger(__name__)

IMAGINE_PATH = "/ws/imagine/listen"
PING_INTERVAL = 20.0
IDLE_KEEP = 120.0
MAX_IDLE = 256
#: after every known slot completed, how long to wait for more slots to open (or for the full
#: version of a completed slot that has none yet)
SETTLE_GRACE = 2.0


class _Conn:
    """One open imagine socket of an account."""

    __slots__ = ("ws", "key", "pinger", "idle_since")

    def __init__(self, ws: Any, key: str) -> None:
        self.ws = ws
        self.key = key
        self.pinger: asyncio.Task[None] | None = None
        self.idle_since = 0.0

    @property
    def alive(self) -> bool:
        try:
            return bool(self.ws.is_alive())
        except Exception:  # noqa: BLE001
            return False

    def terminate(self) -> None:
        if self.pinger is not None:
            self.pinger.cancel()
            self.pinger = None
        try:
            self.ws.terminate()
        except Exception:  # noqa: BLE001
            log.debug("imagine terminate failed", exc_info=True)


class ImagineTransport:
    """`Transport` over the imagine socket; `chat_images` serves `request.fallback`."""

    def __init__(self, cfg: UpstreamConfig, rest: CurlTransport,
                 chat_images: ChatImageTransport, *,
                 ws_url: str = "", max_clients: int = 64,
                 ping_interval: float = PING_INTERVAL, idle_keep: float = IDLE_KEEP) -> None:
        self.cfg = cfg
        self.rest = rest
        self.chat_images = chat_images
        self.url = ws_base_url(ws_url, cfg.base_url) + IMAGINE_PATH
        self.ping_interval = ping_interval
        self.idle_keep = idle_keep
        self._ws = WsConnector(cfg, rest, max_clients)
        self._idle: OrderedDict[str, _Conn] = OrderedDict()
        self._closed = False

    # ---- connections ----------------------------------------------------------------------
    def _take(self, key: str) -> _Conn | None:
        conn = self._idle.pop(key, None)
        if conn is None:
            return None
        if conn.pinger is not None:
            conn.pinger.cancel()
            conn.pinger = None
        if not conn.alive:  # the server closed it while it was idle
            conn.terminate()
            return None
        return conn

    def give_back(self, conn: _Conn) -> None:
        """A connection whose round ended cleanly: kept for the account's next request."""
        if self._closed or not conn.alive or conn.key in self._idle:
            conn.terminate()
            return
        while len(self._idle) >= MAX_IDLE:
            self._idle.popitem(last=False)[1].terminate()
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        self._idle[conn.key] = conn
        conn.pinger = loop.create_task(self._keep_alive(conn))

    async def _keep_alive(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.ping_interval)
                if loop.time() - conn.idle_since >= self.idle_keep or not conn.alive:
                    break
                await conn.ws.ping(b"")
        except asyncio.CancelledError:
            return
        except Exception:  # noqa: BLE001 - a broken socket is simply dropped
            log.debug("imagine ping failed", exc_info=True)
        if self._idle.get(conn.key) is conn:
            del self._idle[conn.key]
        conn.pinger = None
        conn.terminate()

    async def connect(self, request: UpstreamRequest, timeouts: Timeouts,
                      deadline: float) -> _Conn | RefusedStream:
        """A new socket for the request's account (the handshake of `WsConnector`)."""
        proxy = self.cfg.pick_proxy()
        # the mgw set plus the browser's client hints, as the web page's own socket sends
        headers = handshake_headers(request.headers)
        headers.update((k, v) for k, v in request.headers.items()
                       if k.lower().startswith("sec-ch-ua"))
        headers, request.via = self.rest.clearance.apply(headers, proxy)
        ws = await self._ws.connect(self.url, headers, timeouts, deadline, proxy)
        if isinstance(ws, RefusedStream):
            return ws
        return _Conn(ws, sso_of(request.headers.get("Cookie", "")))

    # ---- Transport --------------------------------------------------------------------------
    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> UpstreamStream:
        loop = asyncio.get_running_loop()
        started = loop.time()
        conn = self._take(sso_of(request.headers.get("Cookie", "")))
        if conn is None:
            try:
                got = await self.connect(request, timeouts, started + timeouts.first_byte)
            except TransportError as exc:  # a timeout too
                if request.fallback is None:
                    raise
                log.info("imagine socket failed (%s); using the chat-based image path", exc)
                return await self.chat_images.open(request.fallback, timeouts)
            if isinstance(got, RefusedStream):
                if got.status == 429 or request.fallback is None or await _challenged(got):
                    return got
                log.info("imagine socket refused (%d); using the chat-based image path",
                         got.status)
                return await self.chat_images.open(request.fallback, timeouts)
            conn = got
        return ImagineStream(self, conn, request, timeouts, started)

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.popitem()[1].terminate()
        await self._ws.aclose()


async def _challenged(refused: RefusedStream) -> bool:
    """A 403 that is Cloudflare's challenge: the clearance addon answers it (a new clearance,
    then the same account again), as for a chat; the chat path would meet the same wall."""
    if refused.status != 403:
        return False
    return is_cloudflare_challenge(403, None, await refused.error_body())


class _Broken(Exception):
    """The socket closed or broke during a round."""


class ImagineStream:
    """The rounds of one request. `events()` may be iterated once; always `aclose()` it."""

    def __init__(self, transport: ImagineTransport, conn: _Conn, request: UpstreamRequest,
                 timeouts: Timeouts, started: float) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self._transport = transport
        self._conn: _Conn | None = conn
        self._request = request
        self._timeouts = timeouts
        self._started = started
        self._clean = False
        self._fallback: UpstreamStream | None = None

    async def error_body(self, limit: int = 4096) -> str:
        return ""

    async def events(self) -> AsyncIterator[list[Event]]:
        req = self._request
        params = req.json or {}
        pro = bool(params.get("enable_pro"))
        per_round = PRO_ROUND if pro else SPEED_ROUND
        nsfw = bool(params.get("enable_nsfw"))
        seen: set[str] = set()
        delivered = 0
        try:
            while delivered < req.count:
                self._clean = False
                wanted = req.count - delivered
                state = ImagineRound(wanted, delivered, seen, nsfw=nsfw,
                                     expected=min(wanted, per_round))
                frames = request_frames(str(params.get("prompt") or ""),
                                        aspect_ratio=str(params.get("aspect_ratio") or "2:3"),
                                        enable_nsfw=nsfw, enable_pro=pro,
                                        count=min(wanted, per_round))
                try:
                    async for batch in self._round(state, frames):
                        yield batch
                except (_Broken, UpstreamTimeout) as exc:
                    if delivered == 0 and state.delivered == 0 and not state.withheld:
                        async for batch in self._use_fallback(str(exc)):
                            yield batch
                        return
                    last = state.close()  # best effort: full, not withheld slots
                    if last:
                        yield last
                    delivered += state.delivered
                    break
                if state.failure is not None:
                    if delivered == 0 and state.delivered == 0:
                        if state.failure.status == 429 or req.fallback is None:
                            yield [state.failure]
                            return
                        async for batch in self._use_fallback(state.failure.message):
                            yield batch
                        return
                    break  # keep the images already made
                delivered += state.delivered
                # a socket whose round stopped early may still bring that round's frames:
                # it is not reused
                self._clean = state.finished
                if state.delivered == 0:
                    break  # a round with nothing new: no more rounds
            yield [End()]
        finally:
            await self.aclose()

    async def _use_fallback(self, why: str) -> AsyncIterator[list[Event]]:
        """The chat-based image path on the same account, after the socket failed."""
        req = self._request
        self._drop()
        if req.fallback is None:
            yield [UpstreamFailure(502, f"imagine socket failed: {why}"[:300])]
            return
        log.info("imagine round failed (%s); using the chat-based image path", why)
        stream = self._fallback = await self._transport.chat_images.open(req.fallback,
                                                                        self._timeouts)
        if stream.status != 200:
            body = await stream.error_body()
            yield [UpstreamFailure(stream.status, f"upstream refused the images ({stream.status})",
                                   body)]
            return
        async for batch in stream.events():
            yield batch

    async def _send_round(self, frames: list[dict[str, Any]]) -> None:
        conn = self._conn
        if conn is None or not conn.alive:
            await self._reconnect()
            conn = self._conn
        assert conn is not None
        while buffered(conn.ws):  # nothing of an earlier round may be read as this one's
            try:
                await conn.ws.recv(timeout=0.001)
            except WebSocketTimeout:
                break
        for frame in frames:
            await conn.ws.send(orjson.dumps(frame), CurlWsFlag.TEXT)

    async def _reconnect(self) -> None:
        self._drop()
        loop = asyncio.get_running_loop()
        got = await self._transport.connect(self._request, self._timeouts,
                                            loop.time() + self._timeouts.first_byte)
        if isinstance(got, RefusedStream):
            raise _Broken(f"imagine socket refused on reconnect ({got.status})")
        self._conn = got

    async def _round(self, state: ImagineRound,
                     frames: list[dict[str, Any]]) -> AsyncIterator[list[Event]]:
        """One round's events; raises _Broken or UpstreamTimeout when it cannot finish."""
        t = self._timeouts
        loop = asyncio.get_running_loop()
        total_deadline = self._started + t.total
        retried = False
        try:
            await self._send_round(frames)
        except (CurlError, TransportError) as exc:
            raise _Broken(ws_error_message(exc)) from None
        sent = last_beat = loop.time()
        last_data = sent
        got_any = False
        while not state.done:
            now = loop.time()
            idle = t.idle if got_any else t.first_byte
            if now >= total_deadline:
                raise UpstreamTimeout("total", t.total)
            if now >= last_data + idle:
                raise UpstreamTimeout("idle" if got_any else "first_byte", idle)
            if state.finished and now >= last_data + SETTLE_GRACE:
                # every slot that opened completed and nothing more came: no more slots are
                # opening, and a completed slot with no full version will not get one
                break
            if now >= last_beat + t.heartbeat:
                last_beat = now
                yield [Heartbeat()]
                continue
            until = min(total_deadline, last_data + idle, last_beat + t.heartbeat)
            if state.finished:
                until = min(until, last_data + SETTLE_GRACE)
            try:
                message, flags = await self._conn.ws.recv(timeout=max(0.001, until - now))
            except WebSocketTimeout:
                continue
            except CurlError as exc:
                broken = _Broken(ws_error_message(exc))
                if got_any or retried:
                    raise broken from None
                retried = True  # a socket that died while idle: once more on a new one
                await self._resend(frames, broken)
                continue
            if flags & CurlWsFlag.CLOSE:
                if not got_any and not retried:
                    retried = True
                    await self._resend(frames, _Broken("closed"))
                    continue
                self._drop()
                out = state.close()
                if out:
                    yield out
                if state.delivered == 0 and not state.withheld:
                    raise _Broken("upstream closed the imagine socket mid-round")
                return
            if flags & (CurlWsFlag.PING | CurlWsFlag.PONG):
                continue
            try:
                frame = orjson.loads(message)
            except orjson.JSONDecodeError:
                continue
            got_any = True
            last_data = last_beat = loop.time()
            out = state.feed(frame)
            if out:
                yield out
        if state.failure is not None:
            self._drop()  # an error ends the round; the socket's state is unknown

    async def _resend(self, frames: list[dict[str, Any]], broken: _Broken) -> None:
        try:
            await self._reconnect()
            await self._send_round(frames)
        except (CurlError, TransportError):
            raise broken from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def aclose(self) -> None:
        """A cleanly ended request gives its socket back; anything else closes it at once
        (frames of an abandoned round must not reach the next request)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._clean:
                self._transport.give_back(conn)
            else:
                conn.terminate()
        stream, self._fallback = self._fallback, None
        if stream is not None:
            await stream.aclose()
