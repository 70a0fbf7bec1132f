"""Generated media bytes, the asset CDN (owner-only, Range, offline switch), public imagine
files and quota_info."""
from __future__ import annotations

import base64
import struct

import pytest

from ops.simulator.media import (
    generated_image,
    generated_thumbnail,
    generated_video,
    jpeg_dimensions,
)
from tests.ops.simhelpers import auth_headers, post_json

QUOTA_INFO = "/rest/media/imagine/quota_info"


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 0
    while i < len(data):
        size = struct.unpack(">I", data[i:i + 4])[0]
        assert size >= 8 and i + size <= len(data), "box overruns the file"
        out.append((data[i + 4:i + 8], data[i + 8:i + size]))
        i += size
    return out


@pytest.mark.parametrize(("ratio", "size"), [("1:1", (1024, 1024)), ("16:9", (1280, 720)),
                                             ("9:16", (720, 1280)), ("3:2", (1248, 832)),
                                             ("2:3", (832, 1248)), (None, (832, 1248))])
def test_jpeg_has_the_requested_aspect_ratio(ratio, size):
    data = generated_image("a lighthouse", ratio)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    assert jpeg_dimensions(data) == size
    # previews are the same picture, smaller, with the same ratio
    w, h = jpeg_dimensions(generated_image("a lighthouse", ratio, "preview"))
    assert abs(w / h - size[0] / size[1]) < 0.02 and w < size[0]


def test_jpeg_bytes_follow_prompt_stage_and_slot():
    a = generated_image("a red fox", "1:1")
    assert a == generated_image("a red fox", "1:1")  # a test can recompute what upstream made
    assert a != generated_image("a blue fox", "1:1")
    assert a != generated_image("a red fox", "1:1", index=1)
    # stage sizes in base64 characters, as a size-heuristic client measures them
    b64 = {s: len(base64.b64encode(generated_image("a red fox", "1:1", s))) for s in ("preview", "medium", "final")}
    assert b64["preview"] < 30_000 < b64["medium"] < 100_000 <= b64["final"]


def test_mp4_is_a_box_structure_with_the_duration():
    data = generated_video("a neon street", seconds=10, size=200_000)
    boxes = _boxes(data)
    assert [kind for kind, _ in boxes] == [b"ftyp", b"moov", b"mdat"]
    assert boxes[0][1][:4] == b"isom"
    mvhd = _boxes(boxes[1][1])[0]
    assert mvhd[0] == b"mvhd"
    timescale, duration = struct.unpack(">II", mvhd[1][12:20])
    assert duration / timescale == 10
    assert len(data) >= 200_000
    assert data == generated_video("a neon street", seconds=10, size=200_000)
    assert data != generated_video("a quiet street", seconds=10, size=200_000)
    assert jpeg_dimensions(generated_thumbnail("a neon street", "16:9")) == (320, 180)


async def test_generated_file_only_to_its_owner_with_range(sim, session):
    sim.state.add_token("other", "super")
    owner = sim.state.tokens["tok"]
    data = generated_video("a neon street", size=100_000)
    path = f"users/{owner.user_id}/generated/vid-1/generated_video.mp4"
    item = sim.state.add_media(path, data, "video/mp4", sim=owner)
    url = f"{sim.url}/{path}"
    async with session.get(url, headers=auth_headers("tok")) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
        assert r.headers["Accept-Ranges"] == "bytes"
        assert await r.read() == data
    # the form clients build from an asset id reaches the same file
    async with session.get(f"{sim.url}/users/{owner.user_id}/{item.asset_id}/content",
                           headers=auth_headers("tok")) as r:
        assert r.status == 200 and await r.read() == data
    for headers in (auth_headers("other"), {}):
        async with session.get(url, headers=headers) as r:
            assert r.status == 403
    async with session.get(url, headers={**auth_headers("tok"), "Range": "bytes=100-199"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert await r.read() == data[100:200]
    async with session.get(url, headers={**auth_headers("tok"), "Range": "bytes=-10"}) as r:
        assert r.status == 206 and await r.read() == data[-10:]
    async with session.get(url, headers={**auth_headers("tok"), "Range": f"bytes={len(data)}-"}) as r:
        assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    async with session.get(f"{sim.url}/users/{owner.user_id}/generated/nope/image.jpg",
                           headers=auth_headers("tok")) as r:
        assert r.status == 404


async def test_public_imagine_file_needs_no_cookie_and_cdn_goes_offline(sim, session):
    data = generated_image("a harbour", "16:9")
    sim.state.add_media("imagine-public/images/abc.jpg", data, "image/jpeg", sim=None, public=True)
    owner = sim.state.tokens["tok"]
    owned = f"users/{owner.user_id}/generated/g1/image.jpg"
    sim.state.add_media(owned, data, "image/jpeg", sim=owner)
    async with session.get(f"{sim.url}/imagine-public/images/abc.jpg") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert await r.read() == data
    async with session.get(f"{sim.url}/imagine-public/images/missing.jpg") as r:
        assert r.status == 404

    status, flags, _ = await post_json(session, sim.url + "/__sim/config", {"cdn_offline": True})
    assert status == 200 and flags["cdn_offline"] is True
    async with session.get(f"{sim.url}/imagine-public/images/abc.jpg") as r:
        assert r.status == 503
    async with session.get(f"{sim.url}/{owned}", headers=auth_headers("tok")) as r:
        assert r.status == 503
    await post_json(session, sim.url + "/__sim/config", {"cdn_offline": False})
    async with session.get(f"{sim.url}/{owned}", headers=auth_headers("tok")) as r:
        assert r.status == 200


async def test_public_files_are_not_behind_cloudflare(sim, session):
    sim.state.add_media("imagine-public/images/cf.jpg", b"\xff\xd8x\xff\xd9", "image/jpeg", sim=None, public=True)
    sim.state.cloudflare = True
    async with session.get(f"{sim.url}/imagine-public/images/cf.jpg") as r:
        assert r.status == 200


async def test_quota_info_per_tier_and_exhaustion(sim, session):
    sim.state.add_token("basic-tok", "basic")
    status, body, _ = await post_json(session, sim.url + QUOTA_INFO, {}, auth_headers("basic-tok"))
    assert status == 200
    assert set(body) == {"image", "imagePro", "imageEdit", "video", "video720p"}
    assert body["image"] is None and body["imagePro"] == {"available": False}
    assert body["video"] == {"available": True, "remainingQueries": 10, "windowSizeSeconds": 86400}

    status, _, _ = await post_json(session, sim.url + "/__sim/quota",
                                   {"token": "tok", "mode": "video720p", "remaining": 0})
    assert status == 200
    status, body, _ = await post_json(session, sim.url + QUOTA_INFO, {}, auth_headers("tok"))
    assert body["video720p"]["available"] is True and body["video720p"]["remainingQueries"] == 0
    assert body["video720p"]["nextAvailableAt"].endswith("Z")
    assert "nextAvailableAt" not in body["imagePro"]

    status, body, _ = await post_json(session, sim.url + QUOTA_INFO, {}, auth_headers(None))
    assert status == 401


def test_generated_files_are_bounded_oldest_first():
    from ops.simulator.state import SimulatorState

    state = SimulatorState(max_media=8)
    for i in range(20):
        state.add_media(f"imagine-public/images/{i}.jpg", b"x", "image/jpeg", sim=None, public=True)
    assert len(state.media) <= 8
    assert "imagine-public/images/19.jpg" in state.media and "imagine-public/images/0.jpg" not in state.media
