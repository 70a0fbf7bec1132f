"""The console transport (console-and-voice §2–§5): xAI's developer console reached with a
grok.com account's SSO cookie, over the REST transport's pooled curl handles.

Every call carries a DPoP-bound access token and a fresh proof. The token comes from C1
(`/v1/dpop/token`) and is cached per account (the SHA-256 of its cookie; at most
`MAX_SESSIONS`, least recently used dropped; concurrent misses share one exchange). A 401
drops the session that failed, mints a new one and sends the request once more; a second 401
is final. A C1 refusal is answered as if it were the real call's answer.

The console's refusals are restated here so that the chain's one classifier
(`classify.failure_kind`) reads them as §3.6 says: a final 401 is an invalid credential (the
account expires), a blocked user keeps grok.com's code, a DPoP-required or safety 403 is the
request's (no retry, no penalty), any other 403 is an egress/anti-bot refusal (the same
account once more, no penalty), a 402 or a quota text is a 429 of the account's console mode.

Kinds served: `console` (chat, SSE → neutral events), `speech` (audio bytes) and
`transcription` (C7): the last two are short buffered calls whose answer is one
`MediaResult` carrying the body.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any, AsyncIterator

import orjson

from addons.events import End, Event, MediaResult
from addons.upstream.base import Timeouts, TransportError
from addons.upstream.console_stream import ResponsesParser
from addons.upstream.dpop import DpopRejected, DpopSession, clock_skew
from addons.upstream.transport import CurlTransport
from addons.upstream.wire import UpstreamRequest

log = logging.getLogger(__name__)

MAX_SESSIONS = 4096
DPOP_PATH = "/v1/dpop/token"
#: `x-cluster` goes only with `/responses` (§2.4)
CLUSTER = "https://us-east-1.api.x.ai"
KINDS = ("console", "speech", "transcription")
#: the voice calls' answers are capped (§5.2, §5.4)
VOICE_TIMEOUT_SEC = 120.0

_QUOTA_WORDS = ("personal-team-blocked:spending-limit", "subscription:free-usage-exhausted",
                "used all the included free usage", "run out of credits")
_SAFETY_WORDS = ("content violates usage guidelines", "safety_check_type_")


def _norm(text: str) -> str:
    low = text.lower()
    for sep in "-:. ":
        low = low.replace(sep, "_")
    return low


def restate(status: int, body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """A console refusal as the chain's classifier must read it (module docstring)."""
    low = body.lower()
    if status == 401:
        return 401, "invalid-credentials: the console refused the account's SSO cookie " \
                    "(401 after a DPoP refresh) " + body
    if status == 402 or any(w in low for w in _QUOTA_WORDS):
        return 429, body
    if status == 403:
        if "blocked-user" in low or "user is blocked" in low:
            return 403, body if "blocked-user" in low else "unauthorized:blocked-user " + body
        if "dpop_required" in _norm(body) or "dpop_proof_required" in _norm(body):
            return 403, "console: a DPoP proof was required (a protocol problem of the request)"
        if any(w in low for w in _SAFETY_WORDS):
            return 403, "console safety rejection: " + body
        return 403, "console anti-bot or egress refusal: " + body
    if status >= 500 and (headers or {}).get("x-should-retry", "").lower() == "false":
        return 400, "console error that must not be retried: " + body
    return status, body


class Answer:
    """An answer already read whole: a refusal (status and body), or a voice result."""

    def __init__(self, status: int, body: str = "", events: list[Event] | None = None) -> None:
        self.status = status
        self._body = body
        self._events = events or []

    async def error_body(self, limit: int = 4096) -> str:
        return self._body[:limit]

    async def events(self) -> AsyncIterator[list[Event]]:
        if self._events:
            yield self._events

    async def aclose(self) -> None:
        return None


class ConsoleSessions:
    """DPoP sessions by account; one C1 exchange at a time per account."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, DpopSession] = OrderedDict()
        self._minting: dict[str, asyncio.Future[DpopSession | Answer]] = {}

    def get(self, key: str) -> DpopSession | None:
        session = self._sessions.get(key)
        if session is None or not session.fresh():
            return None
        self._sessions.move_to_end(key)
        return session

    def drop(self, key: str, session: DpopSession) -> None:
        """Only the session that failed: another request may already hold a newer one."""
        if self._sessions.get(key) is session:
            del self._sessions[key]

    def put(self, key: str, session: DpopSession) -> None:
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)


class ConsoleTransport:
    def __init__(self, rest: CurlTransport, base_url: str) -> None:
        self.rest = rest
        #: `<console>/v1`: a base that already ends in /v1 is not doubled
        self.base_url = base_url.rstrip("/")
        self.sessions = ConsoleSessions()
        #: C1 exchanges made (the tests and the admin read it)
        self.minted = 0

    def url(self, path: str) -> str:
        base = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        return base + path

    async def _session(self, request: UpstreamRequest, key: str) -> DpopSession | Answer:
        session = self.sessions.get(key)
        if session is not None:
            return session
        pending = self.sessions._minting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[DpopSession | Answer] = asyncio.get_running_loop().create_future()
        self.sessions._minting[key] = future
        try:
            result = await self._mint(request)
            if isinstance(result, DpopSession):
                self.sessions.put(key, result)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter-less failure is not logged as lost
            raise
        finally:
            del self.sessions._minting[key]

    async def _mint(self, request: UpstreamRequest) -> DpopSession | Answer:
        """C1: the cookie authenticates; no Authorization, DPoP or x-cluster header."""
        key, jwk = DpopSession.new_key()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("authorization", "dpop", "x-cluster", "accept")}
        headers["Accept"] = "*/*"
        headers["Content-Type"] = "application/json"
        call = UpstreamRequest("POST", self.url(DPOP_PATH), headers, {"jwk": jwk},
                               kind=request.kind)
        sent = time.time()
        status, answer_headers, body = await self.rest.request(call, timeout=30.0)
        self.minted += 1
        text = body[:65536].decode("utf-8", "replace")
        if not 200 <= status < 300:
            return Answer(*restate(status, text, answer_headers))
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise DpopRejected("not a JSON object")
            skew = clock_skew(answer_headers.get("date"), sent, time.time())
            return DpopSession.from_answer(key, jwk, data, skew)
        except (orjson.JSONDecodeError, DpopRejected) as exc:
            raise TransportError(f"console DPoP exchange gave an unusable token: {exc}") from None

    async def open(self, request: UpstreamRequest, timeouts: Timeouts) -> Any:
        key = hashlib.sha256(f"{self.base_url}\n{request.headers.get('Cookie', '')}"
                             .encode()).hexdigest()
        for round_ in range(2):
            session = await self._session(request, key)
            if isinstance(session, Answer):
                return session
            headers = dict(request.headers)
            headers["Authorization"] = f"DPoP {session.access_token}"
            headers["DPoP"] = session.proof(request.method, request.url)
            if request.url.endswith("/responses"):
                headers["x-cluster"] = CLUSTER
            signed = replace(request, headers=headers)
            if request.kind == "console":
                stream = await self.rest.open(signed, timeouts, parser=ResponsesParser())
                status = stream.status
                if status == 200:
                    return stream
                body = await stream.error_body(65536)
                answer_headers = getattr(stream, "headers", {})
                await stream.aclose()
            else:
                status, answer_headers, raw = await self.rest.request(
                    signed, timeout=max(timeouts.total, VOICE_TIMEOUT_SEC))
                if 200 <= status < 300:
                    return Answer(200, events=[_voice_result(request.kind, answer_headers, raw),
                                               End()])
                body = raw[:65536].decode("utf-8", "replace")
            if status == 401 and round_ == 0:
                self.sessions.drop(key, session)
                continue
            return Answer(*restate(status, body, answer_headers))
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """The REST transport is shared: its owner closes it."""
        self.sessions = ConsoleSessions()


def _voice_result(kind: str, headers: dict[str, str], body: bytes) -> MediaResult:
    ctype = headers.get("content-type", "").split(";")[0].strip()
    if kind == "transcription":
        return MediaResult("transcript", 0, "", body, content_type="application/json")
    return MediaResult("audio", 0, "", body, content_type=ctype or "audio/mpeg")
