"""Shared HTTP plumbing: the state key, request recording, replies and plain faults."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from ops.simulator.auth import authenticate, check_statsig, parse_sso
from ops.simulator.chat import DEFAULT_SLOW_FIRST_BYTE_MS, DEFAULT_STALL_MS
from ops.simulator.errors import HTTP_FAULT_REPLIES, REPLY_CLOUDFLARE, ErrorReply
from ops.simulator.state import TOS_PATH, Fault, RecordedRequest, SimToken, SimulatorState

STATE_KEY: web.AppKey[SimulatorState] = web.AppKey("grok_sim_state", SimulatorState)
# Typed request keys exist from aiohttp 3.13; plain strings work (with a warning) before.
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
JSON_KEY: Any = _REQUEST_KEY("grok_sim_json", object) if _REQUEST_KEY else "grok_sim_json"
TOKEN_KEY: Any = _REQUEST_KEY("grok_sim_token", object) if _REQUEST_KEY else "grok_sim_token"
#: The injected fault `admit` took for this request (None if none), for endpoint-specific faults.
FAULT_KEY: Any = _REQUEST_KEY("grok_sim_fault", object) if _REQUEST_KEY else "grok_sim_fault"
CONTROL_PREFIX = "/__sim/"
#: Above this, sleeps poll the connection so a vanished client ends them early even when
#: the server runs without handler cancellation.
_WATCH_THRESHOLD = 0.5
_WATCH_STEP = 0.1

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sim_state(request: web.Request) -> SimulatorState:
    return request.app[STATE_KEY]


def to_response(err: ErrorReply) -> web.Response:
    return web.Response(status=err.status, body=err.body, content_type=err.content_type, headers=err.headers)


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


@web.middleware
async def record_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every non-control request before any handler answers it.

    The parsed JSON and the cookie token are stashed on the request for the handlers.
    """
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    body = await request.read() if request.body_exists else b""
    parsed: Any = None
    if body[:1] in (b"{", b"["):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    token, _ = parse_sso(request.headers.get("Cookie", ""))
    request[JSON_KEY] = parsed
    request[TOKEN_KEY] = token
    request.app[STATE_KEY].record(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=parsed,
            token=token,
        )
    )
    return await handler(request)


#: Paths of other hosts, which grok.com's Cloudflare clearance does not cover (accounts.x.ai
#: has its own; the simulator serves its paths on the one origin).
_OTHER_HOSTS = frozenset({TOS_PATH})
#: Path prefix of the public imagine host (not behind grok.com's Cloudflare either).
_PUBLIC_HOST_PREFIX = "/imagine-public/"


def cookie_value(request: web.BaseRequest, name: str) -> str | None:
    for part in request.headers.get("Cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


@web.middleware
async def cloudflare_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cloudflare in front of grok.com (when `state.cloudflare` is on): a request without a
    clearance issued for its User-Agent gets the interstitial, before grok.com sees it."""
    state = request.app[STATE_KEY]
    if (state.cloudflare and not request.path.startswith(CONTROL_PREFIX)
            and request.path not in _OTHER_HOSTS
            and not request.path.startswith(_PUBLIC_HOST_PREFIX)
            and not state.clearance_ok(cookie_value(request, "cf_clearance"),
                                       request.headers.get("User-Agent", ""))):
        return to_response(REPLY_CLOUDFLARE)
    return await handler(request)


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def sleep_watching(request: web.BaseRequest, seconds: float) -> bool:
    """Sleep up to `seconds`; return False early if the client disconnected."""
    if seconds <= _WATCH_THRESHOLD:
        await asyncio.sleep(seconds)
        return not client_gone(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if client_gone(request):
            return False
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, _WATCH_STEP))


def abort_connection(request: web.BaseRequest) -> None:
    """Close the TCP connection without finishing the HTTP message."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def apply_plain_fault(request: web.Request, fault: Fault | None) -> web.StreamResponse | None:
    """Carry out a fault on a non-stream endpoint; a response means "answer this"."""
    if fault is None:
        return None
    name = fault.name
    if name in HTTP_FAULT_REPLIES:
        return to_response(HTTP_FAULT_REPLIES[name])
    if name == "slow_first_byte":
        await sleep_watching(request, fault.options.get("first_byte_ms", DEFAULT_SLOW_FIRST_BYTE_MS) / 1000)
    elif name == "stall":
        await sleep_watching(request, fault.options.get("stall_ms", DEFAULT_STALL_MS) / 1000)
    elif name in ("cut_mid", "truncated"):
        abort_connection(request)
        return web.Response(status=500)
    return None


async def admit(request: web.Request, path: str, *, statsig: bool = True
                ) -> tuple[SimToken | None, web.StreamResponse | None]:
    """The preamble of the simulated JSON endpoints: an injected fault for `path`, then the
    cookie check and (unless `statsig=False`) the anti-bot header check. Returns
    (token, None) when admitted, else (None, the reply to send)."""
    state = sim_state(request)
    fault = request[FAULT_KEY] = state.take_fault(path, request[TOKEN_KEY])
    early = await apply_plain_fault(request, fault)
    if early is not None:
        return None, early
    sim, err = authenticate(state, request)
    if err is None and statsig:
        err = check_statsig(state, request)
    if err is not None or sim is None:
        return None, to_response(err) if err is not None else web.Response(status=500)
    return sim, None
