"""The xAI console as the gateway reaches it (console-and-voice §6), served under `/console`
so that `upstream.console_url = <simulator>/console`: the DPoP exchange (C1), chat over the
Responses API (C2), usage (C3), text to speech (C4), voices (C5/C6) and speech to text (C7);
also grok.com's LiveKit token call (WEB §12).

Every C2–C7 call must carry `Authorization: DPoP <token>` and a proof that verifies (ES256 by
the embedded key, the key bound to the token, method, URL, `ath`, `iat`), else 401; no DPoP
at all is the 403 `unauthorized:dpop-required`. Faults (`/__sim/faults` with a path below)
give the console's refusals of §6.3 to the next calls.
"""
from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ops.simulator.auth import authenticate
from ops.simulator.common import JSON_KEY, TOKEN_KEY, sim_state
from ops.simulator.errors import ErrorReply, json_reply
from ops.simulator.state import SimToken, SimulatorState

PREFIX = "/console/v1"
DPOP_PATH = PREFIX + "/dpop/token"
RESPONSES_PATH = PREFIX + "/responses"
USAGE_PATH = PREFIX + "/usage"
TTS_PATH = PREFIX + "/tts"
VOICES_PATH = PREFIX + "/tts/voices"
STT_PATH = PREFIX + "/stt"
LIVEKIT_PATH = "/rest/livekit/tokens"
TOKEN_LIFETIME = 300
IAT_TOLERANCE = 60
MODELS = frozenset({"grok-4.3", "grok-4.5", "grok-4.20-0309-reasoning",
                    "grok-4.20-0309-non-reasoning", "grok-4.20-multi-agent-0309",
                    "grok-build-0.1"})
VOICES = {"ara": "Ara", "eve": "Eve", "leo": "Leo", "rex": "Rex", "sal": "Sal", "sia": "Sia"}
CODECS = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
          "wav": "audio/wav", "pcm": "audio/pcm"}
#: what the fake audio starts with, so a client can tell it got the bytes (an ID3 tag)
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
TRANSCRIPT = "Hello from Grok voice."

_TEAM = ("Too many requests for team 00000000-0000-0000-0000-000000000013 and model grok-4.3. "
         "Your team's rate limit is — Requests per Second (actual/limit): 2/2.")
#: the console's refusals (§6.3), by fault name
CONSOLE_FAULT_REPLIES: dict[str, ErrorReply] = {
    "console_expired": json_reply(401, {"error": "access token expired"}),
    "console_blocked": json_reply(403, {"code": "unauthorized:blocked-user",
                                        "error": "User is blocked"}),
    "console_anti_bot": json_reply(403, {"error": {"code": 7, "message":
                                                   "Request rejected by anti-bot rules."}}),
    "console_forbidden": ErrorReply(403, b"forbidden", "text/plain"),
    "console_no_access": json_reply(403, {"error": "access to the chat endpoint is denied"}),
    "console_dpop_required": json_reply(403, {"code": "unauthorized:dpop-required",
                                              "error": "DPoP proof required"}),
    "console_team_rate_limit": json_reply(429, {"code": "resource-exhausted", "error": _TEAM}),
    "console_rate_limit": ErrorReply(429, b"Rate limit reached. Resets in: 1h 2m 3s",
                                     "text/plain"),
    "console_quota": json_reply(402, {"code": "subscription:free-usage-exhausted",
                                      "error": "You have used all the included free usage"}),
    "console_server_error": json_reply(500, {"error": "internal error"}),
    "console_safety": json_reply(403, {"error": "SAFETY_CHECK_TYPE_CSAM rejected"}),
    "console_bad_cookie": json_reply(401, {"error": "invalid session cookie"}),
    "console_credential_words": json_reply(500, {"error": "Authorization: Bearer secret-x "
                                                          "failed"}),
}
#: a fault answered inside the 200 stream
STREAM_FAULT = "console_stream_error"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, Any]) -> str:
    canonical = orjson.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]})
    return _b64e(hashlib.sha256(canonical).digest())


def _reply(err: ErrorReply) -> web.Response:
    return web.Response(status=err.status, body=err.body, content_type=err.content_type)


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json",
                        headers={"Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())})


def _fault(request: web.Request, path: str) -> web.Response | None:
    fault = sim_state(request).take_fault(path, request[TOKEN_KEY])
    if fault is None:
        return None
    if fault.name == STREAM_FAULT:
        request["console_stream_error"] = True
        return None
    reply = CONSOLE_FAULT_REPLIES.get(fault.name)
    return _reply(reply) if reply is not None else None


class ConsoleState:
    """Issued access tokens → (sso token, key thumbprint, expiry); usage per sso token."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, str, float]] = {}
        self.used: dict[str, int] = {}
        self.limit = 1000
        self.jtis: set[str] = set()


CONSOLE_KEY: web.AppKey[ConsoleState] = web.AppKey("grok_sim_console", ConsoleState)


def console_state(request: web.Request) -> ConsoleState:
    return request.app[CONSOLE_KEY]


async def dpop_token(request: web.Request) -> web.Response:
    """C1: the cookie authenticates; body `{"jwk": EC P-256}`."""
    bad = _fault(request, DPOP_PATH)
    if bad is not None:
        return bad
    sim, err = authenticate(sim_state(request), request)
    if err is not None or sim is None:
        return _json({"error": "invalid session cookie"}, 401)
    body = request[JSON_KEY]
    jwk = body.get("jwk") if isinstance(body, dict) else None
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" \
            or not all(isinstance(jwk.get(k), str) for k in ("x", "y")):
        return _json({"error": "body must be {\"jwk\": an EC P-256 public key}"}, 400)
    now = int(time.time())
    jkt = _thumbprint(jwk)
    payload = {"sub": sim.user_id, "iat": now, "exp": now + TOKEN_LIFETIME, "cnf": {"jkt": jkt},
               "token_use": "dpop-bound"}
    token = ".".join((_b64e(b'{"alg":"none","typ":"at+jwt"}'), _b64e(orjson.dumps(payload)),
                      _b64e(uuid.uuid4().bytes)))
    console_state(request).tokens[token] = (sim.token, jkt, now + TOKEN_LIFETIME)
    return _json({"access_token": token, "token_type": "DPoP", "expires_in": TOKEN_LIFETIME})


def _verify(request: web.Request) -> tuple[SimToken | None, web.Response | None]:
    """The account of a DPoP-authenticated call, or the console's refusal (§6.1 items 3–5)."""
    auth = request.headers.get("Authorization", "")
    proof = request.headers.get("DPoP", "")
    if not auth.startswith("DPoP ") or not proof:
        return None, _reply(CONSOLE_FAULT_REPLIES["console_dpop_required"])
    cs = console_state(request)
    token = auth[5:].strip()
    issued = cs.tokens.get(token)
    unauthorized = _json({"error": "invalid DPoP proof or token"}, 401)
    if issued is None or issued[2] <= time.time():
        return None, unauthorized
    try:
        head_b64, claims_b64, sig_b64 = proof.split(".")
        header = orjson.loads(_b64d(head_b64))
        claims = orjson.loads(_b64d(claims_b64))
        jwk = header["jwk"]
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            return None, unauthorized
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(_b64d(jwk["x"]), "big"),
                                            int.from_bytes(_b64d(jwk["y"]), "big"),
                                            ec.SECP256R1()).public_key()
        sig = _b64d(sig_b64)
        key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                        int.from_bytes(sig[32:], "big")),
                   f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except (ValueError, KeyError, TypeError, InvalidSignature, orjson.JSONDecodeError):
        return None, unauthorized
    url = f"{request.host}{request.path}"
    ath = _b64e(hashlib.sha256(token.encode()).digest())
    if (_thumbprint(jwk) != issued[1] or claims.get("htm") != request.method
            or claims.get("htu") not in (f"https://{url}", f"http://{url}")
            or claims.get("ath") != ath
            or abs(int(claims.get("iat", 0)) - time.time()) > IAT_TOLERANCE
            or claims.get("jti") in cs.jtis):
        return None, unauthorized
    cs.jtis.add(str(claims.get("jti")))
    sim = sim_state(request).tokens.get(issued[0])
    if sim is None or sim.status != "active":
        return None, _json({"error": "session revoked"}, 401)
    return sim, None


async def _admit(request: web.Request, path: str) -> tuple[SimToken | None, web.Response | None]:
    sim, refused = _verify(request)
    if refused is not None:
        return None, refused
    bad = _fault(request, path)
    if bad is not None:
        return None, bad
    return sim, None


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _user_text(body: dict[str, Any]) -> str:
    for item in reversed(body.get("input") or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


async def responses(request: web.Request) -> web.StreamResponse:
    """C2: the Responses API (§6.2 items 8–13); always streams when asked to."""
    sim, refused = await _admit(request, RESPONSES_PATH)
    if refused is not None:
        return refused
    body = request[JSON_KEY]
    if not isinstance(body, dict) or body.get("model") not in MODELS:
        return _json({"error": {"message": "unknown model", "type": "invalid_request_error"}}, 400)
    reasoning = body.get("reasoning")
    if body["model"] == "grok-4.20-0309-reasoning" and isinstance(reasoning, dict) \
            and "effort" in reasoning:
        return _json({"error": {"message": "reasoning.effort is not supported by this model",
                                "type": "invalid_request_error"}}, 400)
    assert sim is not None
    cs = console_state(request)
    cs.used[sim.token] = cs.used.get(sim.token, 0) + 1
    rid = "resp_" + uuid.uuid4().hex[:24]
    text = f"Console {body['model']} says: {_user_text(body)}"
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    usage = {"input_tokens": 12, "output_tokens": 40, "total_tokens": 52,
             "cost_in_usd_ticks": 123456, "num_sources_used": 0,
             "num_server_side_tools_used": 0, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 30 if effort else 0},
             "context_details": {"input_tokens": 12, "output_tokens": 40}}
    events: list[dict[str, Any]] = [{"type": "response.created",
                                     "response": {"id": rid, "status": "in_progress"}}]
    if effort and effort != "none":
        events += [{"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs_1"}},
                   {"type": "response.reasoning_text.delta", "item_id": "rs_1",
                    "delta": f"Thinking at {effort} effort."},
                   {"type": "response.output_item.done", "item": {"type": "reasoning", "id": "rs_1"}}]
    events.append({"type": "response.output_item.added", "item": {"type": "message", "id": "msg_1"}})
    events += [{"type": "response.output_text.delta", "item_id": "msg_1", "delta": w}
               for w in text.split(" ") for w in (w + " ",)]
    if request.get("console_stream_error"):
        events.append({"type": "response.failed", "response": {"id": rid, "error": {
            "code": "server_error", "message": "the model failed"}}})
    else:
        events.append({"type": "response.output_item.done", "item": {"type": "message", "id": "msg_1"}})
        events.append({"type": "response.completed",
                       "response": {"id": rid, "status": "completed", "usage": usage}})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for event in events:
        await resp.write(_sse(event))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def usage(request: web.Request) -> web.Response:
    sim, refused = await _admit(request, USAGE_PATH)
    if refused is not None:
        return refused
    assert sim is not None
    cs = console_state(request)
    used = cs.used.get(sim.token, 0)
    return _json({"quotas": [
        {"kind": "chat", "limit": cs.limit, "used": used, "remaining": max(0, cs.limit - used)},
        {"kind": "image", "limit": 5, "used": 0, "remaining": 5},
        {"kind": "video", "limit": 2, "used": 0, "remaining": 2}]})


async def tts(request: web.Request) -> web.Response:
    """C4: `text` and `language` required; raw audio, or the JSON envelope with timestamps."""
    sim, refused = await _admit(request, TTS_PATH)
    if refused is not None:
        return refused
    body = request[JSON_KEY]
    if not isinstance(body, dict) or not body.get("text") or not body.get("language"):
        return _json({"error": "text and language are required"}, 400)
    voice = body.get("voice_id")
    if voice is not None and voice not in VOICES:
        return _json({"error": f"unknown voice {voice}"}, 404)
    latency = body.get("optimize_streaming_latency")
    if latency is not None and not isinstance(latency, str):
        return _json({"error": "optimize_streaming_latency must be a string"}, 400)
    fmt = body.get("output_format") or {}
    ctype = CODECS.get(fmt.get("codec", "mp3"), "audio/mpeg")
    assert sim is not None
    cs = console_state(request)
    cs.used[sim.token] = cs.used.get(sim.token, 0) + 1
    if body.get("with_timestamps"):
        return _json({"audio": base64.b64encode(AUDIO).decode(), "content_type": ctype,
                      "duration": 1.84, "audio_timestamps": {
                          "graph_chars": list(body["text"][:2]),
                          "graph_times": [{"start": 0.0, "end": 0.1}, {"start": 0.1, "end": 0.2}]}})
    return web.Response(status=200, body=AUDIO, content_type=ctype)


async def voices(request: web.Request) -> web.Response:
    _, refused = await _admit(request, VOICES_PATH)
    if refused is not None:
        return refused
    voice = request.match_info.get("voice_id")
    items = [{"voice_id": k, "name": v, "language": "en"} for k, v in VOICES.items()]
    if voice is None:
        return _json({"voices": items})
    found = [i for i in items if i["voice_id"] == voice]
    return _json(found[0]) if found else _json({"error": "voice not found"}, 404)


def _form(body: bytes, _: str, header: str) -> tuple[dict[str, str], bool]:
    """The text fields of a multipart body and whether it has a `file` part (the recorder
    has already read the body, so it is parsed from the bytes)."""
    boundary = header.split("boundary=", 1)[-1].strip().strip('"').encode()
    fields: dict[str, str] = {}
    has_file = False
    for part in body.split(b"--" + boundary):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        disposition = head.decode("utf-8", "replace")
        name = disposition.split('name="', 1)[-1].split('"', 1)[0]
        if 'filename="' in disposition:
            has_file = has_file or name == "file"
        else:
            fields[name] = value[:-2].decode("utf-8", "replace") if value.endswith(b"\r\n") \
                else value.decode("utf-8", "replace")
    return fields, has_file


async def stt(request: web.Request) -> web.Response:
    """C7: multipart with exactly one of `file` / `url`."""
    sim, refused = await _admit(request, STT_PATH)
    if refused is not None:
        return refused
    if not request.content_type.startswith("multipart/"):
        return _json({"error": "multipart/form-data required"}, 400)
    form, has_file = _form(await request.read(), request.content_type,
                           request.headers.get("Content-Type", ""))
    if has_file == bool(form.get("url")):
        return _json({"error": "exactly one of file or url is required"}, 400)
    assert sim is not None
    cs = console_state(request)
    cs.used[sim.token] = cs.used.get(sim.token, 0) + 1
    words = [{"text": w, "start": i * 0.4, "end": i * 0.4 + 0.35}
             for i, w in enumerate(TRANSCRIPT.split())]
    if form.get("diarize") == "true":
        for w in words:
            w["speaker"] = 0
    out: dict[str, Any] = {"text": TRANSCRIPT, "language": str(form.get("language") or "en"),
                           "duration": 1.84, "words": words}
    if form.get("multichannel") == "true":
        out["channels"] = [{"index": 0, "text": TRANSCRIPT, "words": words}]
    return _json(out)


async def livekit_token(request: web.Request) -> web.Response:
    """grok.com's `POST /rest/livekit/tokens` (WEB §12): a super or heavy account's token."""
    state: SimulatorState = sim_state(request)
    sim, err = authenticate(state, request)
    if err is not None or sim is None:
        return _reply(err) if err is not None else web.Response(status=500)
    body = request[JSON_KEY]
    if not isinstance(body, dict) or not isinstance(body.get("sessionPayload"), str):
        return _json({"error": "sessionPayload must be a JSON string"}, 400)
    try:
        orjson.loads(body["sessionPayload"])
    except orjson.JSONDecodeError:
        return _json({"error": "sessionPayload is not JSON"}, 400)
    if sim.tier not in ("super", "heavy"):
        return _json({"error": "voice needs a SuperGrok subscription"}, 403)
    return _json({"token": "lk." + _b64e(uuid.uuid4().bytes), "livekitUrl": "wss://livekit.grok.com",
                  "participantName": f"user-{sim.user_id[:8]}",
                  "roomName": f"room-{uuid.uuid4().hex[:8]}"})


def add_console_routes(app: web.Application) -> None:
    app[CONSOLE_KEY] = ConsoleState()
    app.router.add_post(DPOP_PATH, dpop_token)
    app.router.add_post(RESPONSES_PATH, responses)
    app.router.add_get(USAGE_PATH, usage)
    app.router.add_post(TTS_PATH, tts)
    app.router.add_get(VOICES_PATH, voices)
    app.router.add_get(VOICES_PATH + "/{voice_id}", voices)
    app.router.add_post(STT_PATH, stt)
    app.router.add_post(LIVEKIT_PATH, livekit_token)
