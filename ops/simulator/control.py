"""HTTP control API under `/__sim/`, for a simulator running in another process.

Requests here are not recorded and need no cookies. Errors are 400 `{"error": "..."}`.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ops.simulator.common import STATE_KEY, json_response
from ops.simulator.state import CHAT_PATH, IMAGINE_PRODUCTS, MODES, SimulatorState

_FLAGS = ("require_statsig", "strict_statsig", "quota_enabled", "grpc_status_header",
          "grpc_web_text", "cloudflare", "cdn_offline")
#: Account-setting flags a token may be registered with: control-API name -> token field.
_TOKEN_FLAGS = {"tosAccepted": "tos_accepted", "birthDate": "birth_date", "nsfw": "nsfw"}


def _state(request: web.Request) -> SimulatorState:
    return request.app[STATE_KEY]


def _fail(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _token_view(state: SimulatorState, token: str) -> dict[str, Any]:
    sim = state.tokens[token]
    return {"token": sim.token, "tier": sim.tier, "status": sim.status, "user_id": sim.user_id,
            **sim.flags()}


async def tokens_handler(request: web.Request) -> web.Response:
    """Register tokens: `{"tokens":[{token,tier,status,tosAccepted?,birthDate?,nsfw?}]}` or
    `{"count":N,"tier":…,"prefix":…}`."""
    state = _state(request)
    try:
        body = await _body(request)
        added: list[str] = []
        for item in body.get("tokens") or []:
            if isinstance(item, str):
                item = {"token": item}
            tier = item.get("tier", body.get("tier", "basic"))
            status = item.get("status", body.get("status", "active"))
            sim = state.add_token(item["token"], tier, status)
            for name, attr in _TOKEN_FLAGS.items():
                if name in item:
                    setattr(sim, attr, item[name] if name == "birthDate" else bool(item[name]))
            added.append(sim.token)
        count = int(body.get("count") or 0)
        prefix = str(body.get("prefix") or "sim")
        for i in range(count):
            added.append(state.add_token(f"{prefix}-{i}", body.get("tier", "basic"),
                                         body.get("status", "active")).token)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return _fail(str(exc))
    return json_response({"tokens": [_token_view(state, t) for t in added]})


async def list_tokens_handler(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response({"tokens": [_token_view(state, t) for t in state.tokens]})


async def faults_handler(request: web.Request) -> web.Response:
    """`{"fault":"429","token":null,"times":1,"path":…, "options":{"stall_ms":…}}`."""
    state = _state(request)
    try:
        body = await _body(request)
        options = {k: int(v) for k, v in (body.get("options") or {}).items()}
        fault = state.inject(str(body["fault"]), token=body.get("token"), times=int(body.get("times", 1)),
                             path=str(body.get("path") or CHAT_PATH), **options)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return _fail(str(exc))
    return json_response({"fault": fault.name, "path": fault.path, "token": fault.token, "times": fault.times})


async def quota_handler(request: web.Request) -> web.Response:
    """`{"token":…, "mode":…, "remaining":N, "total":N?, "window_seconds":N?}`; `mode` is a
    chat mode or an imagine product (`imagePro`, `imageEdit`, `video`, …)."""
    state = _state(request)
    try:
        body = await _body(request)
        mode = body["mode"]
        if mode not in MODES and mode not in IMAGINE_PRODUCTS:
            raise ValueError(f"unknown mode or imagine product {mode!r}")
        win = state.set_quota(body["token"], mode, int(body["remaining"]), total=body.get("total"),
                              window_seconds=body.get("window_seconds"))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return _fail(str(exc))
    return json_response({"remaining": win.remaining, "total": win.total, "window_seconds": win.window_seconds})


async def config_handler(request: web.Request) -> web.Response:
    """Set flags: `{"strict_statsig":true,"require_statsig":true,"quota_enabled":false,
    "grpc_status_header":true,"grpc_web_text":true,"cloudflare":true,"cdn_offline":true}`
    (`cdn_offline`: the asset CDN and the public imagine host answer 503)."""
    state = _state(request)
    try:
        body = await _body(request)
    except (ValueError, orjson.JSONDecodeError) as exc:
        return _fail(str(exc))
    for flag in _FLAGS:
        if flag in body:
            setattr(state, flag, bool(body[flag]))
    return json_response({flag: getattr(state, flag) for flag in _FLAGS})


async def clearance_handler(request: web.Request) -> web.Response:
    """Issue a Cloudflare clearance, as a solved challenge would: `{"user_agent": …}` →
    `{"cf_clearance": …, "user_agent": …}` (what a FlareSolverr stand-in hands out)."""
    state = _state(request)
    try:
        body = await _body(request)
        agent = body["user_agent"]
        if not isinstance(agent, str) or not agent:
            raise ValueError("user_agent must be a non-empty string")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return _fail(str(exc))
    return json_response({"cf_clearance": state.issue_clearance(agent), "user_agent": agent})


async def revoke_clearances_handler(request: web.Request) -> web.Response:
    """Every issued clearance stops working (Cloudflare expired them)."""
    _state(request).revoke_clearances()
    return json_response({"ok": True})


async def requests_handler(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return _fail("limit must be an integer")
    items = state.requests[-limit:] if limit > 0 else []
    return json_response({"requests": [r.to_dict() for r in items], "total": len(state.requests)})


async def clear_requests_handler(request: web.Request) -> web.Response:
    _state(request).clear_requests()
    return json_response({"ok": True})


async def reset_handler(request: web.Request) -> web.Response:
    _state(request).reset()
    return json_response({"ok": True})


async def stats_handler(request: web.Request) -> web.Response:
    return json_response(_state(request).stats())


def add_control_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/__sim/tokens", tokens_handler)
    r.add_get("/__sim/tokens", list_tokens_handler)
    r.add_post("/__sim/faults", faults_handler)
    r.add_post("/__sim/quota", quota_handler)
    r.add_post("/__sim/config", config_handler)
    r.add_post("/__sim/clearance", clearance_handler)
    r.add_delete("/__sim/clearance", revoke_clearances_handler)
    r.add_get("/__sim/requests", requests_handler)
    r.add_delete("/__sim/requests", clear_requests_handler)
    r.add_post("/__sim/reset", reset_handler)
    r.add_get("/__sim/stats", stats_handler)
