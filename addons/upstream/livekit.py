"""The grok.com LiveKit token call (WEB §12) as a transport: one short buffered POST whose
answer becomes one `MediaResult` holding `{"token","url","participant_name","room_name"}`
(the field names the older gateways' `/webui/api/voice/token` returned)."""
from __future__ import annotations

import orjson

from addons.events import End, MediaResult
from addons.upstream.base import Timeouts
from addons.upstream.console_transport import Answer
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest

DEFAULT_URL = "wss://livekit.grok.com"
TIMEOUT_SEC = 60.0


def _first(data: dict, *names: str) -> str:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


class LiveKitTransport:
    def __init__(self, rest: CurlTransport) -> None:
        self.rest = rest

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> Answer:
        status, _, body = await self.rest.request(request, timeout=TIMEOUT_SEC)
        text = body[:65536].decode("utf-8", "replace")
        if status != 200:
            return Answer(status, text)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        token = _first(data, "token") if isinstance(data, dict) else ""
        if not token:  # a 200 without a token is grok.com failing, not a result
            return Answer(502, "livekit answer without a token: " + text[:200])
        out = {"token": token, "url": _first(data, "livekitUrl", "url") or DEFAULT_URL,
               "participant_name": _first(data, "participantName", "participant_name", "identity"),
               "room_name": _first(data, "roomName", "room_name", "room")}
        return Answer(200, events=[MediaResult("voice_token", 0, "", orjson.dumps(out),
                                               content_type="application/json"), End()])

    async def aclose(self) -> None:
        return None
