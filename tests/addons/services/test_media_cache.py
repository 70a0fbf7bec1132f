"""The media cache's index and eviction, with a fake transport (no network): what a user
notices is which files are still served and that a restart forgets nothing."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from addons.services.media_cache import MediaCache, MediaFetchError
from addons.services.media_index import ID_PATTERN, MediaIndex
from addons.upstream.config import UpstreamConfig
from state.boot import BootConfig
from state.settings import Settings

MIB = 1 << 20


class FakeCdn:
    """Answers every URL with `size` bytes of `content_type`, in 64 KiB pieces."""

    def __init__(self, size: int, content_type: str = "image/png", status: int = 200) -> None:
        self.cfg = UpstreamConfig()
        self.size, self.content_type, self.status = size, content_type, status
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def download(self, request, sink, *, timeout=0, max_bytes=0):
        self.calls.append((request.url, dict(request.headers)))
        await asyncio.sleep(0.01)
        if max_bytes and self.size > max_bytes:
            from addons.upstream.transport import DownloadTooLarge
            raise DownloadTooLarge(max_bytes)
        left = self.size
        while left > 0:
            piece = min(left, 65536)
            await sink(b"x" * piece)
            left -= piece
        return self.status, {"content-type": self.content_type}


def make_cache(tmp_path: Path, **env: str) -> MediaCache:
    boot = BootConfig.from_env({"DATA_DIR": str(tmp_path), **env}, dotenv=False)
    return MediaCache(tmp_path, Settings.from_boot(boot))


async def test_a_stored_file_has_an_unguessable_id_its_type_and_survives_a_restart(tmp_path):
    cache = make_cache(tmp_path)
    cdn = FakeCdn(1000, "image/webp")
    cache.bind(cdn)
    await cache.start()
    media = await cache.fetch("https://assets.example/a/img", "tok-1", "image")
    assert ID_PATTERN.fullmatch(media.id) and media.content_type == "image/webp"
    assert media.path == tmp_path / "media" / "image" / f"{media.id}.webp"
    assert media.path.read_bytes() == b"x" * 1000
    assert "sso=tok-1" in cdn.calls[0][1]["Cookie"]  # the owning account's cookies
    assert list((tmp_path / "media" / ".tmp").iterdir()) == []  # no part left behind
    again = make_cache(tmp_path)
    await again.start()
    assert again.find("image", media.id).size == 1000
    assert again.find("video", media.id) is None  # the kind is part of the address


async def test_the_same_url_is_downloaded_once(tmp_path):
    cache = make_cache(tmp_path)
    cdn = FakeCdn(5000)
    cache.bind(cdn)
    await cache.start()
    first = await cache.fetch("https://assets.example/x.png", "tok", "image")
    second = await cache.fetch("https://assets.example/x.png", "tok", "image")
    assert first.id == second.id and len(cdn.calls) == 1


async def test_storing_past_the_limit_evicts_the_oldest_of_that_kind_only(tmp_path):
    cache = make_cache(tmp_path, GROK_CACHE__LOCAL__IMAGE_MAX_MB="1")
    cache.bind(FakeCdn(400 * 1024))
    await cache.start()
    video_dir = tmp_path / "media" / "video"
    (video_dir / ("v" * 32 + ".mp4")).write_bytes(b"v" * 2 * MIB)
    await cache.start()  # the index sees the video
    stored = []
    for i in range(4):
        stored.append(await cache.fetch(f"https://assets.example/{i}.png", "tok", "image"))
        os.utime(stored[-1].path, (time.time() - 100 + i, time.time() - 100 + i))
        cache.indexes["image"].rebuild()
    # 4 × 400 KiB > 1 MiB: the two oldest went, the newest two stay
    assert [cache.find("image", m.id) is not None for m in stored] == [False, False, True, True]
    assert not stored[0].path.exists()
    assert cache.find("video", "v" * 32) is not None  # another kind's limit is its own


async def test_a_file_larger_than_its_kind_limit_is_refused_and_leaves_nothing(tmp_path):
    cache = make_cache(tmp_path, GROK_CACHE__LOCAL__VIDEO_MAX_MB="1")
    cache.bind(FakeCdn(2 * MIB, "video/mp4"))
    await cache.start()
    with pytest.raises(MediaFetchError, match="larger than the cache limit"):
        await cache.fetch("https://assets.example/v.mp4", "tok", "video")
    assert list((tmp_path / "media" / "video").iterdir()) == []
    assert list((tmp_path / "media" / ".tmp").iterdir()) == []


async def test_an_upstream_refusal_is_an_error_without_the_token(tmp_path):
    cache = make_cache(tmp_path)
    cache.bind(FakeCdn(10, status=403))
    await cache.start()
    with pytest.raises(MediaFetchError) as info:
        await cache.fetch("https://assets.example/v.png", "secret-sso-token", "image")
    assert "403" in str(info.value) and "secret-sso-token" not in str(info.value)


def test_ids_of_another_shape_are_never_looked_up(tmp_path):
    cache = make_cache(tmp_path)
    (tmp_path / "media" / "image").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"s")
    for bad in ("../secret", "..%2Fsecret", "a" * 31, "a" * 33, "a" * 31 + ".", ""):
        assert cache.find("image", bad) is None
    assert cache.find("../image", "a" * 32) is None


def test_the_index_orders_eviction_by_age_and_ignores_foreign_files(tmp_path):
    index = MediaIndex("image", tmp_path)
    now = time.time()
    for i, name in enumerate(["a" * 32 + ".png", "b" * 32 + ".jpg", "c" * 32 + ".png"]):
        (tmp_path / name).write_bytes(b"1" * 100)
        os.utime(tmp_path / name, (now - 10 + i, now - 10 + i))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ("d" * 32 + ".mp4")).write_bytes(b"1" * 100)  # a video: not this kind
    index.rebuild()
    assert len(index) == 3 and index.total == 300
    assert [m.id[0] for m in index.over_limit(150)] == ["a", "b"]
    assert [m.id[0] for m in index.over_limit(150, keep="a" * 32)] == ["b", "c"]
    assert index.over_limit(300) == []
