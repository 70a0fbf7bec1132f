"""Upload + CDN ownership, request recording, the /__sim/ control API and the CLI helpers."""
from __future__ import annotations

import base64

import aiohttp
import pytest

from ops.simulator.cli import load_tokens, simulate
from tests.ops.simhelpers import CHAT, RATE_LIMITS, UPLOAD, auth_headers, chat, chat_payload, post_json

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def _upload(session, sim, token="tok", content=None, mime="image/png"):
    payload = {"fileName": "file.png", "fileMimeType": mime,
               "content": content if content is not None else base64.b64encode(PNG).decode()}
    return await post_json(session, sim.url + UPLOAD, payload, auth_headers(token))


async def test_upload_then_cdn_and_attachment(sim, session):
    sim.state.add_token("other", "super")
    status, body, _ = await _upload(session, sim)
    assert status == 200
    file_id = body["fileMetadataId"]
    uid = sim.state.tokens["tok"].user_id
    assert body["fileUri"] == f"users/{uid}/{file_id}/content"

    cdn = f"{sim.url}/{body['fileUri']}"
    async with session.get(cdn, headers={"Cookie": "sso=tok; sso-rw=tok"}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        assert await r.read() == PNG
    async with session.get(cdn, headers={"Cookie": "sso=other; sso-rw=other"}) as r:
        assert r.status == 403
    async with session.get(cdn) as r:
        assert r.status == 403
    async with session.get(f"{sim.url}/users/{uid}/not-a-file/content", headers=auth_headers("tok")) as r:
        assert r.status == 404

    # the id is usable as an attachment by its owner only
    assert (await chat(session, sim, "hi", fileAttachments=[file_id]))[0] == 200
    assert (await chat(session, sim, "hi", token="other", fileAttachments=[file_id]))[0] == 400


@pytest.mark.parametrize("content", ["not base64!!", "abc", "###"])
async def test_upload_rejects_bad_base64(sim, session, content):
    status, body, _ = await _upload(session, sim, content=content)
    assert status == 400 and body["error"]["code"] == 3


async def test_upload_requires_auth_and_fields(sim, session):
    status, body, _ = await _upload(session, sim, token="nobody")
    assert status == 401 and "invalid-credentials" in body["error"]["message"]
    status, _, _ = await post_json(session, sim.url + UPLOAD, {"fileName": "x"}, auth_headers("tok"))
    assert status == 400


async def test_requests_are_recorded(sim, session):
    headers = {**auth_headers("tok"), "x-xai-request-id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
               "User-Agent": "UA-test", "Baggage": "sentry-environment=production"}
    async with session.post(sim.url + CHAT, json=chat_payload("hello", "fast"), headers=headers) as r:
        await r.read()
    await post_json(session, sim.url + CHAT, chat_payload("x"), {"Cookie": "sso=bad; sso-rw=bad"})  # rejected
    reqs = sim.state.requests
    assert len(reqs) == 2
    first = reqs[0]
    assert (first.method, first.path, first.token) == ("POST", CHAT, "tok")
    assert first.headers["x-xai-request-id"] == headers["x-xai-request-id"]
    assert first.headers["user-agent"] == "UA-test" and first.headers["origin"] == "https://grok.com"
    assert first.json["message"] == "hello" and first.json["modeId"] == "fast"
    assert first.body.startswith(b"{")
    assert reqs[1].token == "bad"
    sim.state.clear_requests()
    assert sim.state.requests == []


async def test_control_api(sim, session):
    base = sim.url + "/__sim"
    status, body, _ = await post_json(session, base + "/tokens", {"count": 3, "tier": "heavy", "prefix": "bench"})
    assert status == 200 and [t["token"] for t in body["tokens"]] == ["bench-0", "bench-1", "bench-2"]
    assert sim.state.tokens["bench-1"].tier == "heavy"
    status, body, _ = await post_json(session, base + "/tokens",
                                      {"tokens": [{"token": "blk", "tier": "super", "status": "blocked"}]})
    assert status == 200 and sim.state.tokens["blk"].status == "blocked"
    status, _, _ = await post_json(session, base + "/tokens", {"tokens": [{"token": "x", "tier": "gold"}]})
    assert status == 400

    status, _, _ = await post_json(session, base + "/faults", {"fault": "429", "token": None, "times": 1})
    assert status == 200
    assert (await chat(session, sim, "hi", token="bench-0"))[0] == 429
    status, _, _ = await post_json(session, base + "/faults", {"fault": "bogus"})
    assert status == 400

    status, body, _ = await post_json(session, base + "/quota", {"token": "bench-0", "mode": "heavy", "remaining": 0})
    assert status == 200
    assert (await chat(session, sim, "hi", "heavy", token="bench-0"))[0] == 429

    status, body, _ = await post_json(session, base + "/config", {"strict_statsig": True})
    assert body["strict_statsig"] is True and sim.state.strict_statsig

    async with session.get(base + "/requests", params={"limit": "2"}) as r:
        data = await r.json()
    assert len(data["requests"]) == 2 and data["requests"][-1]["path"] == CHAT
    assert data["requests"][-1]["json"]["modeId"] == "heavy"

    async with session.get(base + "/stats") as r:
        stats = await r.json()
    assert stats["active_streams"] == 0 and stats["total_chats"] == 0 and "cancelled_streams" in stats

    status, _, _ = await post_json(session, base + "/reset", {})
    assert status == 200 and not sim.state.tokens and not sim.state.requests and not sim.state.strict_statsig


async def test_plain_endpoint_faults(sim, session):
    sim.state.inject("cut_mid", path=RATE_LIMITS)
    with pytest.raises(aiohttp.ClientError):
        await post_json(session, sim.url + RATE_LIMITS, {"modelName": "fast"}, auth_headers("tok"))
    sim.state.inject("500", path=UPLOAD)
    status, _, _ = await _upload(session, sim)
    assert status == 500


def test_load_tokens(tmp_path):
    f = tmp_path / "tokens.txt"
    f.write_text("# comment\nalpha\n\n  sso=beta  \n", encoding="utf-8")
    assert load_tokens(f) == ["alpha", "beta"]


def test_cli_help():
    from click.testing import CliRunner

    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0 and "--tokens-file" in result.output and "--port" in result.output
