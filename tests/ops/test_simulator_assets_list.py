"""The account's file list (`GET /rest/assets`, paged) and delete (`DELETE
/rest/assets-metadata/{assetId}`), over real sockets: uploads and generated files, owner only,
and the CDN stops serving a deleted file."""
from __future__ import annotations

import base64

from ops.simulator.media import generated_image
from tests.ops.simhelpers import UPLOAD, auth_headers, post_json

ASSETS = "/rest/assets"
DELETE = "/rest/assets-metadata/"


async def _list(session, sim, token="tok", **query):
    params = {"pageSize": "50", "orderBy": "ORDER_BY_LAST_USE_TIME", "source": "SOURCE_ANY",
              "isLatest": "true", **query}
    async with session.get(sim.url + ASSETS, params=params, headers=auth_headers(token)) as r:
        return r.status, await r.json()


async def _upload(session, sim, name: str, data: bytes, token="tok") -> str:
    status, body, _ = await post_json(session, sim.url + UPLOAD, {
        "fileName": name, "fileMimeType": "image/png",
        "content": base64.b64encode(data).decode()}, auth_headers(token))
    assert status == 200
    return body["fileMetadataId"]


async def test_list_pages_through_uploads_and_generated_files_newest_first(sim, session):
    owner = sim.state.tokens["tok"]
    sim.state.add_token("other", "super")
    uploaded = [await _upload(session, sim, f"cat-{i}.png", b"png-%d" % i) for i in range(3)]
    data = generated_image("a lighthouse", "1:1")
    made = sim.state.add_media(f"users/{owner.user_id}/generated/g1/image.jpg", data,
                               "image/jpeg", sim=owner)
    # a preview is not an asset, and neither is another account's file
    sim.state.add_media(f"users/{owner.user_id}/generated/g1-part-0/image.jpg", b"p",
                        "image/jpeg", sim=owner)
    await _upload(session, sim, "theirs.png", b"x", token="other")

    status, first = await _list(session, sim, pageSize="3")
    assert status == 200 and len(first["assets"]) == 3 and first["nextPageToken"]
    status, second = await _list(session, sim, pageSize="3", pageToken=first["nextPageToken"])
    assert status == 200 and "nextPageToken" not in second
    items = first["assets"] + second["assets"]
    assert [a["assetId"] for a in items] == [made.asset_id, *reversed(uploaded)]
    top = items[0]
    assert top == {"assetId": made.asset_id, "fileName": "image.jpg",
                   "filePath": f"users/{owner.user_id}/generated/g1/image.jpg",
                   "contentType": "image/jpeg", "fileSize": len(data),
                   "createdAt": top["createdAt"]}
    assert top["createdAt"].endswith("Z")
    assert items[1]["fileName"] == "cat-2.png"
    assert items[1]["filePath"] == f"users/{owner.user_id}/{uploaded[2]}/content"


async def test_list_checks_cookies_statsig_and_its_query(sim, session):
    async with session.get(sim.url + ASSETS, headers=auth_headers(None)) as r:
        assert r.status == 401
    async with session.get(sim.url + ASSETS, headers=auth_headers("tok", statsig=None)) as r:
        assert r.status == 403
    sim.state.add_token("gone", "basic", status="expired")
    status, body = await _list(session, sim, token="gone")
    assert status == 401 and "invalid-credentials" in str(body)
    assert (await _list(session, sim, pageSize="0"))[0] == 400
    assert (await _list(session, sim, pageToken="not-ours"))[0] == 400


async def test_delete_is_for_the_owner_and_the_cdn_stops_serving_it(sim, session):
    owner = sim.state.tokens["tok"]
    sim.state.add_token("other", "super")
    path = f"users/{owner.user_id}/generated/v1/generated_video.mp4"
    item = sim.state.add_media(path, b"video-bytes", "video/mp4", sim=owner, asset_id="vid-1")
    sim.state.videos["vid-1"] = item
    upload_id = await _upload(session, sim, "dog.png", b"dog")
    content = f"{sim.url}/users/{owner.user_id}/{upload_id}/content"
    async with session.get(content, headers=auth_headers("tok")) as r:
        assert r.status == 200

    async with session.delete(sim.url + DELETE + "vid-1", headers=auth_headers("other")) as r:
        assert r.status == 403
    async with session.delete(sim.url + DELETE + "vid-1", headers=auth_headers(None)) as r:
        assert r.status == 401
    async with session.get(f"{sim.url}/{path}", headers=auth_headers("tok")) as r:
        assert r.status == 200  # refused deletes changed nothing

    for asset_id in ("vid-1", upload_id):
        async with session.delete(sim.url + DELETE + asset_id, headers=auth_headers("tok")) as r:
            assert r.status == 200 and await r.json() == {}
    for url in (f"{sim.url}/{path}", f"{sim.url}/users/{owner.user_id}/vid-1/content", content):
        async with session.get(url, headers=auth_headers("tok")) as r:
            assert r.status == 404, url
    assert "vid-1" not in sim.state.videos
    assert (await _list(session, sim))[1]["assets"] == []
    async with session.delete(sim.url + DELETE + "vid-1", headers=auth_headers("tok")) as r:
        assert r.status == 404
