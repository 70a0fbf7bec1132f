"""Account maintenance (docs/upstream.md, "Account settings (NSFW)"): accept the terms of
service (gRPC-web `SetTosAcceptedVersion`, an accounts.x.ai path served on this origin), the
JSON terms call `/rest/auth/set-tos-accepted` of newer grok.com clients, set the birth date
and the NSFW feature control (gRPC-web `UpdateUserFeatureControls`).

The gRPC-web endpoints compare the request bytes with grok.com's exact bodies and check the
gRPC-web headers and the per-endpoint Origin/Referer (a mismatch is a 400 naming it); they
answer 200 with an empty data frame and a `grpc-status:0` trailer frame (optionally also as
headers, optionally base64 `grpc-web-text`). Token flags `tos_accepted`, `birth_date` and
`nsfw` change accordingly; a second birth date is a 429 with the change-limit marker, and
enabling NSFW before ToS and birth date is grpc-status 9 (FAILED_PRECONDITION).

The framing is written out here rather than imported from the client, so a client bug
cannot hide behind a shared encoder.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import struct
from urllib.parse import quote

from aiohttp import web

from ops.simulator.common import FAULT_KEY, JSON_KEY, admit, json_response, sim_state, to_response
from ops.simulator.errors import bad_request, json_reply
from ops.simulator.state import (
    BIRTH_DATE_PATH,
    FEATURE_CONTROLS_PATH,
    TOS_JSON_PATH,
    TOS_PATH,
    SimulatorState,
)

GROK = "https://grok.com"
ACCOUNTS = "https://accounts.x.ai"
#: Accept-terms message: one data frame of length 2, field 2 varint 1.
TOS_BODY = bytes.fromhex("00000000021001")
_NSFW_MASK = bytes.fromhex("121a0a18") + b"always_show_nsfw_content"
#: NSFW on/off message: field 1 {field 2 varint = 1|0},
#: field 2 {field 1 = "always_show_nsfw_content"}.
NSFW_ON_BODY = bytes.fromhex("00000000200a021001") + _NSFW_MASK
NSFW_OFF_BODY = bytes.fromhex("00000000200a021000") + _NSFW_MASK
#: Header values every gRPC-web call must carry, lower-case names.
GRPC_HEADERS = {
    "content-type": "application/grpc-web+proto",
    "accept": "*/*",
    "x-grpc-web": "1",
    "x-user-agent": "connect-es/2.1.1",
    "cache-control": "no-cache",
    "pragma": "no-cache",
    "sec-fetch-dest": "empty",
}
#: Referers of the grok.com account calls: older clients (this gateway) and newer ones.
GROK_REFERERS = (GROK + "/?_s=data", GROK + "/")
BIRTH_DATE_LIMIT = json_reply(429, {"error": {
    "code": 8, "message": "Birth date can no longer be changed "
                          "[WKE=account:birth-date-change-limit-reached]", "details": []}})
_BIRTH_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_GRPC_FAULT_REPLIES = {
    "grpc_7": (7, "User is blocked [WKE=unauthorized:blocked-user]"),
    "grpc_16": (16, "Invalid credentials [WKE=unauthorized:invalid-credentials]"),
}
MIN_AGE = 18


def _frame(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def grpc_reply(state: SimulatorState, status: int = 0, message: str = "") -> web.Response:
    """HTTP 200: an empty data frame, then the trailer frame `grpc-status:N\\r\\n`."""
    trailer = f"grpc-status:{status}\r\n"
    if message:
        trailer += f"grpc-message:{quote(message)}\r\n"
    frames = [_frame(0x00, b""), _frame(0x80, trailer.encode("ascii"))]
    headers: dict[str, str] = {}
    if state.grpc_status_header:
        headers["grpc-status"] = str(status)
        if message:
            headers["grpc-message"] = quote(message)
    if state.grpc_web_text:
        body = b"".join(base64.b64encode(f) for f in frames)  # each frame on its own
        content_type = "application/grpc-web-text+proto"
    else:
        body = b"".join(frames)
        content_type = "application/grpc-web+proto"
    return web.Response(status=200, body=body, headers={**headers, "Content-Type": content_type})


def _mismatch(request: web.Request, expected: dict[str, str | tuple[str, ...]]) -> list[str]:
    problems = []
    for name, want in expected.items():
        got = request.headers.get(name)
        allowed = want if isinstance(want, tuple) else (want,)
        if got not in allowed:
            problems.append(f"{name}={got!r} (want {' or '.join(map(repr, allowed))})")
    return problems


def _check_grpc(request: web.Request, body: bytes, bodies: tuple[bytes, ...], origin: str,
                referers: tuple[str, ...]) -> web.Response | None:
    problems = _mismatch(request, {**GRPC_HEADERS, "origin": origin, "referer": referers})
    if body not in bodies:
        problems.append(f"body {body.hex()} is not the expected message")
    if problems:
        return to_response(bad_request("gRPC-web request rejected: " + "; ".join(problems)))
    return None


def _grpc_fault(request: web.Request) -> web.Response | None:
    fault = request[FAULT_KEY]
    if fault is not None and fault.name in _GRPC_FAULT_REPLIES:
        return grpc_reply(sim_state(request), *_GRPC_FAULT_REPLIES[fault.name])
    return None


async def tos_handler(request: web.Request) -> web.StreamResponse:
    """Accept the terms (accounts.x.ai): no statsig needed, newer clients send none there."""
    sim, refused = await admit(request, TOS_PATH, statsig=False)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    bad = _check_grpc(request, await request.read(), (TOS_BODY,), ACCOUNTS,
                      (ACCOUNTS + "/accept-tos",))
    if bad is not None:
        return bad
    faulted = _grpc_fault(request)
    if faulted is not None:
        return faulted
    sim.tos_accepted = True
    return grpc_reply(sim_state(request))


async def tos_json_handler(request: web.Request) -> web.StreamResponse:
    """The JSON terms call of newer clients: `{"tosVersion":5}`."""
    sim, refused = await admit(request, TOS_JSON_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    payload = request[JSON_KEY]
    if not isinstance(payload, dict) or not isinstance(payload.get("tosVersion"), int):
        return to_response(bad_request("tosVersion must be an integer"))
    sim.tos_accepted = True
    return json_response({})


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


async def birth_date_handler(request: web.Request) -> web.StreamResponse:
    """Birth date: exactly `{"birthDate":"YYYY-MM-DDTHH:MM:SS.mmmZ"}` of an adult; once only."""
    sim, refused = await admit(request, BIRTH_DATE_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    problems = _mismatch(request, {"content-type": "application/json", "origin": GROK,
                                   "referer": GROK_REFERERS})
    if problems:
        return to_response(bad_request("request rejected: " + "; ".join(problems)))
    payload = request[JSON_KEY]
    value = payload.get("birthDate") if isinstance(payload, dict) else None
    if (not isinstance(value, str) or not _BIRTH_DATE_RE.match(value)
            or await request.read() != b'{"birthDate":"' + value.encode() + b'"}'):
        return to_response(bad_request('body must be {"birthDate":"YYYY-MM-DDTHH:MM:SS.mmmZ"}'))
    try:
        born = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").date()
    except ValueError:
        return to_response(bad_request(f"invalid birthDate {value!r}"))
    if _age(born, dt.datetime.now(dt.timezone.utc).date()) < MIN_AGE:
        return to_response(bad_request("birthDate must be of an adult"))
    if sim.birth_date is not None:
        return to_response(BIRTH_DATE_LIMIT)
    sim.birth_date = value
    return json_response({})


async def feature_controls_handler(request: web.Request) -> web.StreamResponse:
    """NSFW feature control: on (needs ToS and birth date first, else grpc-status 9) or off."""
    sim, refused = await admit(request, FEATURE_CONTROLS_PATH)
    if refused is not None or sim is None:
        return refused or web.Response(status=500)
    body = await request.read()
    bad = _check_grpc(request, body, (NSFW_ON_BODY, NSFW_OFF_BODY), GROK, GROK_REFERERS)
    if bad is not None:
        return bad
    faulted = _grpc_fault(request)
    if faulted is not None:
        return faulted
    state = sim_state(request)
    enable = body == NSFW_ON_BODY
    if enable and (not sim.tos_accepted or sim.birth_date is None):
        return grpc_reply(state, 9, "terms of service and birth date are required first")
    sim.nsfw = enable
    return grpc_reply(state)


def add_account_routes(app: web.Application) -> None:
    app.router.add_post(TOS_PATH, tos_handler)
    app.router.add_post(TOS_JSON_PATH, tos_json_handler)
    app.router.add_post(BIRTH_DATE_PATH, birth_date_handler)
    app.router.add_post(FEATURE_CONTROLS_PATH, feature_controls_handler)
