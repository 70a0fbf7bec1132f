"""The operator's view of the media cache: stats, the listing newest first, deleting one file
or a whole kind, with the index (what `/v1/files` serves) kept in step."""
from __future__ import annotations

import os

import pytest

from addons.services.media_cache import InvalidMediaName, check_name, item_view
from tests.addons.services.test_media_cache import FakeCdn, make_cache

MIB = 1 << 20


async def _stored(tmp_path, **env):
    cache = make_cache(tmp_path, **env)
    await cache.start()
    images = []
    for i in range(3):
        media = await cache.store(b"i" * (1000 + i), "image", "image/jpeg", f"https://a/{i}.jpg")
        os.utime(media.path, (1_700_000_000 + i, 1_700_000_000 + i))  # i-th oldest
        images.append(media)
    video = await cache.store(b"v" * 5000, "video", "video/mp4")
    return cache, images, video


async def test_stats_count_sizes_and_limits_per_kind(tmp_path):
    cache, images, video = await _stored(tmp_path, GROK_CACHE_LOCAL_IMAGE_MAX_MB="1")
    stats = (await cache.stats("image")).to_dict()
    assert stats == {"count": 3, "size_mb": 0.0, "size_bytes": 3003, "limit_mb": 1.0,
                     "limit_bytes": MIB, "limited": True,
                     "usage_ratio": round(3003 / MIB, 4),
                     "usage_percent": round(round(3003 / MIB, 4) * 100, 2)}
    assert (await cache.stats("video")).to_dict()["size_bytes"] == 5000
    # a file another worker stored counts too: the directory is the truth
    (tmp_path / "media" / "image" / ("B" * 32 + ".png")).write_bytes(b"p" * 10)
    assert (await cache.stats("image")).count == 4


async def test_listing_is_newest_first_and_paged(tmp_path):
    cache, images, _ = await _stored(tmp_path)
    page = await cache.list("image", 1, 2)
    assert page.total == 3 and [m.id for m in page.items] == [images[2].id, images[1].id]
    assert [m.id for m in (await cache.list("image", 2, 2)).items] == [images[0].id]
    assert (await cache.list("image", 3, 2)).items == []
    assert item_view(page.items[0]) == {"name": f"{images[2].id}.jpg", "size_bytes": 1002,
                                        "modified_at": 1_700_000_002_000}


async def test_delete_removes_the_file_from_disk_index_and_url_memory(tmp_path):
    cache, images, video = await _stored(tmp_path)
    cdn = FakeCdn(700, "image/jpeg")
    cache.bind(cdn)
    gone = images[0]
    assert await cache.delete("image", gone.name) is True
    assert not gone.path.exists() and cache.find("image", gone.id) is None
    assert cache.indexes["image"].total == 1001 + 1002
    assert await cache.delete("image", gone.name) is False
    # a later link to the same upstream file downloads it again instead of a dead copy
    again = await cache.fetch("https://a/0.jpg", "tok", "image")
    assert again.id != gone.id and len(cdn.calls) == 1
    # a well-formed name of the other kind, or one the cache never makes, names nothing here
    assert await cache.delete("image", "abc.jpg") is False
    assert cache.find("video", video.id) is not None


@pytest.mark.parametrize(("kind", "name", "missing"), [
    ("image", "", True), ("image", None, True), ("image", "../x.jpg", False),
    ("image", "a/b.jpg", False), ("image", "a\\b.jpg", False), ("image", ".hidden.jpg", False),
    ("image", "x.mp4", False), ("video", "x.jpg", False), ("image", "noext", False),
    ("image", "x.jpg\x00", False), ("image", 7, False),
])
def test_names_that_cannot_be_a_cached_file_are_refused(kind, name, missing):
    with pytest.raises(InvalidMediaName) as info:
        check_name(kind, name)
    assert info.value.missing is missing


async def test_clear_empties_one_kind_only(tmp_path):
    cache, images, video = await _stored(tmp_path)
    assert await cache.clear("image") == 3
    assert (await cache.stats("image")).count == 0 and len(cache.indexes["image"]) == 0
    assert cache.indexes["image"].total == 0
    assert all(cache.find("image", m.id) is None for m in images)
    assert cache.find("video", video.id) is not None and video.path.exists()
    assert await cache.clear("image") == 0
