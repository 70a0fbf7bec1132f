"""Opening a grok.com WebSocket with curl_cffi, shared by the mgw chat (`mgw.py`) and the
imagine socket (`imagine.py`).

The handshake (`GET` with `Upgrade`) runs over HTTP/1.1 with only the headers given, no
default headers and no Accept-Encoding. A refused upgrade becomes a `RefusedStream` with that
status, so the retry addon's failover works unchanged. libcurl never reads the body of a
refused upgrade (it fails with "Refused WebSocket upgrade: <code>"), so for 400/401/403, where
the body's invalid-credential markers matter, `error_body()` fetches it with one plain GET of
the same URL and headers; other statuses get a short synthetic body.

curl_cffi runs the handshake (`curl.perform`) in a worker thread and leaks the pooled handle
if that await is cancelled; the handshake therefore runs in its own task, and a caller that
gives up (timeout, cancellation) leaves it to finish and be terminated.
"""
from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from curl_cffi import CurlError, CurlHttpVersion, CurlOpt
from curl_cffi.requests import AsyncSession

from addons.upstream.base import Timeouts, TransportError, UpstreamTimeout
from addons.upstream.config import UpstreamConfig
from addons.upstream.mgw_stream import RefusedStream, ws_error_message
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest

MAX_FRAME = 16 * 1024 * 1024
#: Refusals whose body carries account markers (classify.INVALID_CREDENTIAL_MARKERS).
_BODY_STATUSES = frozenset({400, 401, 403})
_REFUSED = re.compile(r"Refused WebSocket upgrade: (\d{3})")


class WsConnector:
    """Opens WebSockets on a curl_cffi session of its own (an open socket holds one of its
    client slots for as long as it lives); `rest` fetches refusal bodies."""

    def __init__(self, cfg: UpstreamConfig, rest: CurlTransport, max_clients: int = 64) -> None:
        self.cfg = cfg
        self.rest = rest
        self.max_clients = max(1, int(max_clients))
        self._session: AsyncSession[Any] | None = None

    def _ws_session(self) -> AsyncSession[Any]:
        if self._session is None:
            self._session = AsyncSession(max_clients=self.max_clients,
                                         impersonate=self.rest.impersonate,
                                         verify=not self.cfg.skip_ssl_verify, trust_env=False)
        return self._session

    async def connect(self, url: str, headers: dict[str, str], timeouts: Timeouts,
                      deadline: float, proxy: str | None) -> Any:
        """The open socket, or a `RefusedStream` for a refused upgrade. Raises
        `UpstreamTimeout` past `deadline` (loop time) and `TransportError` when the
        connection fails."""
        session = self._ws_session()

        # libcurl ignores TIMEOUT_MS for a CONNECT_ONLY handshake; a low-speed limit does end
        # a silent one, so the worker thread is not held forever.
        stall = max(1, math.ceil(timeouts.first_byte))
        options = {CurlOpt.HTTP_VERSION: CurlHttpVersion.V1_1, CurlOpt.CONNECTTIMEOUT_MS:
                   int(timeouts.connect * 1000), CurlOpt.LOW_SPEED_LIMIT: 1,
                   CurlOpt.LOW_SPEED_TIME: stall}

        async def handshake() -> Any:
            return await session.ws_connect(
                url, headers=headers, timeout=None, proxy=proxy,
                default_headers=False, accept_encoding=None, http_version="v1",
                curl_options=options, max_message_size=MAX_FRAME, drain_on_error=True)

        task = asyncio.ensure_future(handshake())
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(task)
        except (TimeoutError, asyncio.CancelledError) as exc:
            task.add_done_callback(_terminate_late)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("first_byte", timeouts.first_byte) from None
            raise
        except CurlError as exc:
            m = _REFUSED.search(str(exc))
            if m is None:
                raise TransportError(ws_error_message(exc)) from None
            status = int(m.group(1))
            body = f"Refused WebSocket upgrade: {status}"
            if status not in _BODY_STATUSES:
                return RefusedStream(status, body)
            http_url = "http" + url[2:] if url.startswith("ws") else url
            return RefusedStream(status, body,
                                 lambda: self._refusal_body(http_url, headers, status, proxy))

    async def _refusal_body(self, url: str, headers: dict[str, str], status: int,
                            proxy: str | None) -> str:
        got, _, body = await self.rest.request(UpstreamRequest("GET", url, dict(headers)), 10.0,
                                               proxy=proxy)
        return body.decode("utf-8", "replace") if got == status else ""

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _terminate_late(task: asyncio.Future[Any]) -> None:
    """A handshake whose caller gave up: close the socket it produced, if any."""
    if task.cancelled() or task.exception() is not None:
        return
    task.result().terminate()
