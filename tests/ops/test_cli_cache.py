"""`grok2api cache stats|list|clear` on DATA_DIR with no server running (CliRunner)."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from addons.services.media_cache import MediaCache
from ops.cli import main
from state.boot import BootConfig
from state.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("CONFIG_LOCAL_PATH", "DATABASE_URL", "GROK_CACHE_LOCAL_IMAGE_MAX_MB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _store(data_dir: Path) -> dict[str, list[str]]:
    """Files a server stored before it stopped: two images (the second newer), a video."""
    async def run() -> dict[str, list[str]]:
        boot = BootConfig.from_env({"DATA_DIR": str(data_dir)}, dotenv=False)
        cache = MediaCache(data_dir, Settings.from_boot(boot))
        await cache.start()
        out: dict[str, list[str]] = {"image": [], "video": []}
        for age, (kind, size, ctype) in enumerate([("image", 1500, "image/jpeg"),
                                                   ("image", 2500, "image/png"),
                                                   ("video", 4000, "video/mp4")]):
            media = await cache.store(os.urandom(size), kind, ctype)
            os.utime(media.path, (1_700_000_000 + age, 1_700_000_000 + age))
            out[kind].append(media.name)
        return out
    return asyncio.run(run())


def _run(*args: str, input: str | None = None):
    result = CliRunner().invoke(main, ["cache", *args], input=input)
    return result


def test_stats_and_list_read_the_data_dir(data_dir: Path) -> None:
    names = _store(data_dir)
    result = _run("stats", "--json")
    assert result.exit_code == 0, result.output
    stats = orjson.loads(result.output)
    assert stats["local_image"]["count"] == 2 and stats["local_image"]["size_bytes"] == 4000
    assert stats["local_video"]["count"] == 1 and stats["local_video"]["limit_mb"] == 2048
    result = _run("stats", "--type", "video")
    assert result.exit_code == 0 and "video" in result.output and "image" not in result.output
    assert "1 file(s)" in result.output

    result = _run("list", "--json")
    listing = orjson.loads(result.output)
    assert listing["total"] == 2
    assert [i["name"] for i in listing["items"]] == names["image"][::-1]  # newest first
    assert listing["items"][0]["size_bytes"] == 2500
    result = _run("list", "--type", "image", "--page", "2", "--page-size", "1")
    assert result.exit_code == 0
    assert names["image"][0] in result.output and names["image"][1] not in result.output
    assert "2 image file(s), page 2" in result.output
    assert _run("list", "--type", "audio").exit_code == 2  # a usage error


def test_clear_asks_first_and_removes_one_kind(data_dir: Path) -> None:
    names = _store(data_dir)
    result = _run("clear", "--type", "image", input="n\n")
    assert result.exit_code == 1 and (data_dir / "media" / "image" / names["image"][0]).exists()
    result = _run("clear", "--type", "image", "--yes", "--json")
    assert result.exit_code == 0 and orjson.loads(result.output) == {"removed": {"image": 2}}
    assert not any((data_dir / "media" / "image").iterdir())
    assert (data_dir / "media" / "video" / names["video"][0]).exists()
    result = _run("clear", "--yes")
    assert "removed 0 image file(s)" in result.output
    assert "removed 1 video file(s)" in result.output
