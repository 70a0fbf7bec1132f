"""The local media cache from the admin API over real sockets: files the gateway really
downloaded from the simulator's CDN (and bytes stored as the imagine socket's are), counted,
listed newest first, deleted one or many at a time, cleared; what `/v1/files` serves follows."""
from __future__ import annotations

import os

import pytest

from tests.integration.test_admin_api import AUTH, KEY, call

TOKEN = "tok-cache-owner-0123456789"


async def _gateway_with_files(stack):
    """Two images and a video in the cache: one image downloaded from the simulator's CDN
    with the owner's cookies, the others stored from bytes; their ages in that order."""
    await stack.start_gateway(GROK_APP_APP_KEY=KEY, GROK_CACHE_LOCAL_VIDEO_MAX_MB="3")
    stack.add_account(TOKEN)
    owner = stack.sim.state.tokens[TOKEN]
    path = f"users/{owner.user_id}/generated/g1/image.jpg"
    stack.sim.state.add_media(path, b"\xff\xd8downloaded\xff\xd9", "image/jpeg", sim=owner)
    media = stack.gateway.services.media
    first = await media.fetch(f"{stack.sim.url}/{path}", TOKEN, "image")
    second = await media.store(os.urandom(2048), "image", "image/png")
    video = await media.store(os.urandom(4096), "video", "video/mp4")
    for age, item in enumerate((first, second, video)):
        os.utime(item.path, (1_700_000_000 + age, 1_700_000_000 + age))
    return first, second, video


async def _served(stack, kind: str, media_id: str) -> int:
    async with stack.http() as http:
        async with http.get(f"/v1/files/{kind}?id={media_id}") as resp:
            return resp.status


async def test_stats_list_delete_and_clear(stack):
    first, second, video = await _gateway_with_files(stack)
    async with stack.http(headers=AUTH) as http:
        status, body = await call(http, "GET", "/cache")
        assert status == 200 and set(body) == {"local_image", "local_video"}
        image = body["local_image"]
        assert image["count"] == 2 and image["size_bytes"] == first.size + 2048
        assert image["limit_mb"] == 512 and image["limited"] is True
        assert body["local_video"] == {
            "count": 1, "size_mb": 0.0, "size_bytes": 4096, "limit_mb": 3.0,
            "limit_bytes": 3 << 20, "limited": True, "usage_ratio": round(4096 / (3 << 20), 4),
            "usage_percent": round(round(4096 / (3 << 20), 4) * 100, 2)}

        status, body = await call(http, "GET", "/cache/list?type=image")
        assert status == 200 and body["status"] == "success"
        assert (body["total"], body["page"], body["page_size"]) == (2, 1, 1000)
        assert [i["name"] for i in body["items"]] == [f"{second.id}.png", f"{first.id}.jpg"]
        assert body["items"][0] == {"name": f"{second.id}.png", "size_bytes": 2048,
                                    "modified_at": 1_700_000_001_000}
        status, body = await call(http, "GET", "/cache/list?cache_type=image&page=2&page_size=1")
        assert [i["name"] for i in body["items"]] == [f"{first.id}.jpg"] and body["total"] == 2
        status, body = await call(http, "GET", "/cache/list?cache_type=video")
        assert [i["name"] for i in body["items"]] == [f"{video.id}.mp4"]

        assert await _served(stack, "image", first.id) == 200
        status, body = await call(http, "POST", "/cache/item/delete",
                                  json={"type": "image", "name": f"{first.id}.jpg"})
        assert (status, body) == (200, {"status": "success",
                                        "result": {"deleted": f"{first.id}.jpg"}})
        assert await _served(stack, "image", first.id) == 404
        status, body = await call(http, "POST", "/cache/item/delete",
                                  json={"type": "image", "name": f"{first.id}.jpg"})
        assert status == 404 and body["error"]["code"] == "file_not_found"

        status, body = await call(http, "POST", "/cache/items/delete", json={
            "type": "image", "names": [f"{second.id}.png", f"{first.id}.jpg", "abc.jpg"]})
        assert (status, body) == (200, {"status": "success",
                                        "result": {"deleted": 1, "missing": 2}})
        assert await _served(stack, "image", second.id) == 404
        assert (await call(http, "GET", "/cache"))[1]["local_image"]["count"] == 0

        # a deleted download is fetched again, not answered with a dead copy
        again = await stack.gateway.services.media.fetch(
            f"{stack.sim.url}/users/{stack.sim.state.tokens[TOKEN].user_id}/generated/g1/image.jpg",
            TOKEN, "image")
        assert again.id != first.id and await _served(stack, "image", again.id) == 200

        status, body = await call(http, "POST", "/cache/clear", json={"type": "video"})
        assert (status, body) == (200, {"status": "success", "result": {"removed": 1}})
        assert await _served(stack, "video", video.id) == 404
        assert await _served(stack, "image", again.id) == 200  # the other kind is untouched
        status, body = await call(http, "GET", "/cache")
        assert body["local_video"]["count"] == 0 and body["local_image"]["count"] == 1


@pytest.mark.parametrize("method, path, payload, status_code, code, param", [
    ("POST", "/cache/clear", {}, 400, "invalid_value", "type"),
    ("POST", "/cache/clear", {"type": "gif"}, 400, "invalid_value", "type"),
    ("POST", "/cache/item/delete", {"type": "image"}, 400, "missing_file_name", "name"),
    ("POST", "/cache/item/delete", {"type": "image", "name": ""}, 400, "missing_file_name",
     "name"),
    ("POST", "/cache/item/delete", {"type": "image", "name": "../../config.toml"}, 400,
     "invalid_file_name", "name"),
    ("POST", "/cache/item/delete", {"type": "image", "name": "..\\x.jpg"}, 400,
     "invalid_file_name", "name"),
    ("POST", "/cache/item/delete", {"type": "image", "name": ".hidden.jpg"}, 400,
     "invalid_file_name", "name"),
    ("POST", "/cache/item/delete", {"type": "video", "name": "SECOND"}, 400,
     "invalid_file_name", "name"),
    ("POST", "/cache/item/delete", {"type": "video", "name": "FIRST"}, 400,
     "invalid_file_name", "name"),
    ("POST", "/cache/item/delete", {"name": "FIRST"}, 400, "invalid_value", "type"),
    ("POST", "/cache/items/delete", {"type": "image"}, 400, "missing_file_names", "names"),
    ("POST", "/cache/items/delete", {"type": "image", "names": []}, 400,
     "missing_file_names", "names"),
    ("POST", "/cache/items/delete", {"type": "image", "names": ["FIRST", "a/b.jpg"]}, 400,
     "invalid_file_name", "names[1]"),
    ("GET", "/cache/list?type=audio", None, 400, "invalid_value", "type"),
    ("GET", "/cache/list?page_size=0", None, 400, "invalid_value", "page_size"),
])
async def test_bad_input_is_refused_and_nothing_is_removed(stack, method, path, payload,
                                                           status_code, code, param):
    first, second, video = await _gateway_with_files(stack)
    names = {"FIRST": f"{first.id}.jpg", "SECOND": f"{second.id}.png"}
    if isinstance(payload, dict):
        payload = {k: ([names.get(n, n) for n in v] if isinstance(v, list) else names.get(v, v))
                   for k, v in payload.items()}
    async with stack.http(headers=AUTH) as http:
        status, body = await call(http, method, path, json=payload)
        assert status == status_code and body["error"]["code"] == code, body
        assert body["error"]["param"] == param
    assert all(m.path.exists() for m in (first, second, video))
    for kind, item in (("image", first), ("image", second), ("video", video)):
        assert await _served(stack, kind, item.id) == 200


async def test_the_cache_routes_need_the_admin_key(stack):
    await stack.start_gateway(GROK_APP_APP_KEY=KEY)
    async with stack.http() as http:
        for method, path in (("GET", "/cache"), ("GET", "/cache/list"),
                             ("POST", "/cache/clear"), ("GET", "/assets")):
            status, body = await call(http, method, path, json={"type": "image"})
            assert status == 401 and body["error"]["code"] == "missing_api_key"
