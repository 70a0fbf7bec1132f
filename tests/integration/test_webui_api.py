"""The web chat's API (`/webui/api/*`, api-surface §1.3 and §10.10) over real sockets: the
auth rules AUTH-20..23, the models' capability, a chat stream, and the imagine socket's
frames, against the simulator."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.integration.sse_client import chunks, read_sse

KEY = "webui-secret-key-123"
BEARER = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "grok-4.20-fast", "stream": True,
        "messages": [{"role": "user", "content": "hi [[sim think=1]]"}]}


async def status_of(stack, method: str, path: str, **kw) -> tuple[int, dict | str]:
    async with stack.http() as http:
        async with http.request(method, path, allow_redirects=False, **kw) as resp:
            body = await resp.text()
            try:
                return resp.status, json.loads(body)
            except ValueError:
                return resp.status, body


async def test_disabled_pages_are_404_and_an_open_api_refuses(stack) -> None:  # AUTH-21, 22
    await stack.start_gateway()
    for path in ("/webui", "/webui/login", "/webui/chat", "/webui/imagine", "/webui/masonry"):
        status, _ = await status_of(stack, "GET", path)
        assert status == 404, path
    status, body = await status_of(stack, "GET", "/webui/api/verify")
    assert status == 401 and body["error"]["message"] == "WebUI access is disabled"
    status, body = await status_of(stack, "POST", "/webui/api/chat/completions", json=CHAT)
    assert status == 401 and body["error"]["code"] == "webui_disabled"


async def test_enabled_without_a_key_is_open(stack) -> None:  # AUTH-20, 21, 22
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_API_KEY="sk-v1-only")
    async with stack.http() as http:
        async with http.get("/webui", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"].endswith("/webui/login")
        async with http.get("/webui/chat") as resp:
            assert resp.status == 200
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    status, body = await status_of(stack, "GET", "/webui/api/verify")
    assert status == 200 and body == {"status": "ok"}
    # the /v1 key is another scope: the WebUI API does not ask for it, /v1 still does
    status, _ = await status_of(stack, "GET", "/v1/models")
    assert status == 401


async def test_a_set_key_is_required_as_bearer_even_when_disabled(stack) -> None:  # AUTH-22
    await stack.start_gateway(GROK_APP_WEBUI_KEY=KEY)
    status, body = await status_of(stack, "GET", "/webui/api/verify")
    assert status == 401 and body["error"]["code"] == "missing_api_key"
    status, body = await status_of(stack, "GET", "/webui/api/verify",
                                   headers={"Authorization": "Bearer wrong-key"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert KEY not in json.dumps(body)
    status, _ = await status_of(stack, "GET", "/webui/api/verify?access_token=" + KEY)
    assert status == 401  # the query form is the socket's only
    status, body = await status_of(stack, "GET", "/webui/api/verify", headers=BEARER)
    assert status == 200 and body == {"status": "ok"}
    status, _ = await status_of(stack, "GET", "/webui/chat")
    assert status == 404  # the pages stay off


async def test_models_list_every_enabled_model_with_its_capability(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_WEBUI_KEY=KEY)
    status, body = await status_of(stack, "GET", "/webui/api/models", headers=BEARER)
    assert status == 200 and body["object"] == "list"
    caps = {m["id"]: m["capability"] for m in body["data"]}
    # no account at all: /v1/models lists nothing, the WebUI lists what is enabled
    assert caps["grok-4.20-fast"] == "chat"
    assert caps["grok-imagine-image"] == "image"
    assert caps["grok-imagine-image-edit"] == "image_edit"
    assert caps["grok-imagine-video"] == "video"
    # the audio models are no use to the chat and imagine pages
    assert set(caps.values()) == {"chat", "image", "image_edit", "video"}


async def test_a_voice_token_for_the_webui(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_WEBUI_KEY=KEY)
    stack.add_account("tok-webui-voice", "super")
    status, body = await status_of(stack, "POST", "/webui/api/voice/token", json={})
    assert status == 401
    status, body = await status_of(stack, "POST", "/webui/api/voice/token", headers=BEARER,
                                   json={"voice": "ara", "personality": "assistant",
                                         "speed": 1.0, "instruction": ""})
    assert status == 200 and body["token"] and body["url"].startswith("wss://")
    assert stack.sim.state.requests_to("/rest/livekit/tokens")[-1].token == "tok-webui-voice"
    status, body = await status_of(stack, "POST", "/webui/api/voice/token", headers=BEARER,
                                   json={"speed": 9})
    assert status == 400 and body["error"]["param"] == "speed"


async def test_chat_streams_reasoning_and_answer_as_the_webui(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_WEBUI_KEY=KEY,
                              GROK_APP_API_KEY="sk-v1-only")
    stack.add_account("tok-a", "super")
    async with stack.http() as http:
        async with http.post("/webui/api/chat/completions", json=CHAT, headers=BEARER) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            got = chunks(await read_sse(resp))
    deltas = [c["choices"][0]["delta"] for c in got if c.get("choices")]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    text = "".join(d.get("content") or "" for d in deltas)
    assert "Thinking step 0." in reasoning
    assert text == "Hello from the grok simulator."
    # the /v1 key does not open the WebUI API
    status, _ = await status_of(stack, "POST", "/webui/api/chat/completions", json=CHAT,
                                headers={"Authorization": "Bearer sk-v1-only"})
    assert status == 401


async def test_chat_is_audited_as_the_webui(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_APP_KEY="admin-key-123456")
    stack.add_account("tok-a", "super")
    body = {**CHAT, "stream": False}
    status, answer = await status_of(stack, "POST", "/webui/api/chat/completions", json=body)
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "Hello from the grok simulator."
    status, rows = await status_of(stack, "GET", "/admin/api/requests",
                                   headers={"Authorization": "Bearer admin-key-123456"})
    assert status == 200
    row = rows["items"][0]
    assert row["key_name"] == "webui" and row["endpoint"] == "webui.chat" and row["status"] == 200


async def test_a_bad_chat_body_is_a_400_naming_the_field(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true")
    status, body = await status_of(stack, "POST", "/webui/api/chat/completions",
                                   json={"model": "grok-4.20-fast", "messages": "nope"})
    assert status == 400 and body["error"]["param"] == "messages"


async def _socket(stack, query: str = "", headers: dict | None = None):
    http = stack.http()
    try:
        ws = await http.ws_connect("/webui/api/imagine/ws" + query, headers=headers or {})
    except BaseException:
        await http.close()
        raise
    return http, ws


async def frames_until(ws, end: set[str], limit: float = 20.0) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(limit):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            got.append(frame)
            if frame["type"] == "status" and frame["status"] in end:
                return got


async def test_the_socket_refuses_a_missing_or_wrong_key_before_accept(stack) -> None:  # AUTH-23
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true", GROK_APP_WEBUI_KEY=KEY)
    for query, headers in (("", None), ("?access_token=wrong", None),
                           ("", {"Authorization": "Bearer wrong"})):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await _socket(stack, query, headers)
        assert refused.value.status == 403
    for query, headers in (("?access_token=" + KEY, None), ("", {"Authorization": KEY}),
                           ("", BEARER)):
        http, ws = await _socket(stack, query, headers)
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json()) == {"type": "pong"}
        await ws.close()
        await http.close()


async def test_imagine_frames_status_progress_images_completed(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true")
    stack.add_account("tok-a", "super")
    http, ws = await _socket(stack)
    try:
        await ws.send_json({"type": "start", "prompt": "a red fox", "aspect_ratio": "2:3",
                            "quality": "nonsense", "count": 99})
        got = await frames_until(ws, {"completed", "stopped"})
    finally:
        await ws.close()
        await http.close()
    start = got[0]
    assert start["type"] == "status" and start["status"] == "running"
    assert start["count"] == 6 and start["quality"] == "speed" and start["aspect_ratio"] == "2:3"
    run = start["run_id"]
    kinds = [f["type"] for f in got]
    assert "progress" in kinds and kinds.index("progress") < kinds.index("image")
    images = [f for f in got if f["type"] == "image"]
    assert len(images) == 6 and all(f["run_id"] == run for f in got)
    assert sorted(f["order"] for f in images) == list(range(6))
    assert got[-1] == {"type": "status", "status": "completed", "run_id": run, "count": 6}
    async with aiohttp.ClientSession() as plain:  # the links open without a key
        async with plain.get(images[0]["url"]) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
    props = stack.sim.state.imagine_sessions[0].frames[-1]["item"]["content"][0]["properties"]
    assert props["aspect_ratio"] == "2:3"


async def test_imagine_errors_stop_and_restart(stack) -> None:
    await stack.start_gateway(GROK_APP_WEBUI_ENABLED="true")
    stack.add_account("tok-a", "super")
    http, ws = await _socket(stack)
    try:
        await ws.send_json({"type": "start", "prompt": "   "})
        frame = await ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "invalid_prompt"
        await ws.send_json({"type": "start", "prompt": "x", "aspect_ratio": "7:5"})
        frame = await ws.receive_json()
        assert frame["code"] == "invalid_payload" and frame["param"] == "aspect_ratio"
        await ws.send_str("not json")
        assert (await ws.receive_json())["code"] == "invalid_payload"
        await ws.send_json({"type": "dance"})
        assert (await ws.receive_json())["code"] == "invalid_action"
        # a start, then stop at once: the run ends as stopped
        await ws.send_json({"type": "start", "prompt": "a slow one", "count": 2})
        running = await ws.receive_json()
        await ws.send_json({"type": "stop"})
        got = await frames_until(ws, {"stopped", "completed"})
        assert got[-1]["run_id"] == running["run_id"]
        # the socket stays usable for the next run
        await ws.send_json({"type": "start", "prompt": "again", "count": 1})
        got = await frames_until(ws, {"completed"})
        assert [f["type"] for f in got].count("image") == 1
    finally:
        await ws.close()
        await http.close()


async def test_an_admin_page_session_opens_the_api_with_its_csrf_token(stack) -> None:
    """/admin/chat and /admin/imagine call this API with the admin's session: the cookie
    alone reads, a POST and the socket also need the session's CSRF token."""
    await stack.start_gateway(GROK_APP_APP_KEY="admin-key-123456", GROK_APP_WEBUI_KEY=KEY)
    stack.add_account("tok-a", "super")
    # aiohttp keeps cookies of an IP address only when told to
    async with stack.http(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post("/admin/api/login", json={"app_key": "admin-key-123456"}) as resp:
            assert resp.status == 200
        async with http.get("/admin/chat") as resp:
            page = await resp.text()
        boot = json.loads(page.split('id="boot">', 1)[1].split("</script>", 1)[0])
        csrf = boot["csrf"]
        async with http.get("/webui/api/verify") as resp:
            assert resp.status == 200  # WebUI disabled, a key set: the session still opens it
        body = {**CHAT, "stream": False}
        async with http.post("/webui/api/chat/completions", json=body) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
        async with http.post("/webui/api/chat/completions", json=body,
                             headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect("/webui/api/imagine/ws")
        ws = await http.ws_connect("/webui/api/imagine/ws?csrf=" + csrf)
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json()) == {"type": "pong"}
        await ws.close()
        cookie = next(c.value for c in http.cookie_jar if c.key == "grok2api_admin")
        async with http.post("/admin/api/logout", headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200
    async with stack.http() as http:  # the session ended with the logout
        async with http.get("/webui/api/verify",
                            headers={"Cookie": f"grok2api_admin={cookie}"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "session_expired"
    # the audit names the admin, not the WebUI
    async with stack.http() as http:
        async with http.get("/admin/api/requests",
                            headers={"Authorization": "Bearer admin-key-123456"}) as resp:
            row = (await resp.json())["items"][0]
    assert row["key_name"] == "admin" and row["endpoint"] == "webui.chat"
