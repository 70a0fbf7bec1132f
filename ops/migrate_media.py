"""Cached media of the older gateways → today's media cache (`${DATA_DIR}/media/{image,video}`).

Older layouts (api-surface §7.4, CFG-12): v2-py `files/images`, `files/videos`; v1.x and the
fork `tmp/{image,video}`, moved there from `temp/{image,video}`, which v0 used. Today's cache
names a file `<id>.<ext>` with a 32-character id and nothing else (`media_index.py`), so each
old file gets the id made from its content's SHA-256: the same file always lands on the same
name, which makes a second run copy nothing, and a file cached twice is kept once. The copy
keeps the file's time (the cache evicts oldest first) and is renamed into place whole. Old
links (`/v1/files/image/<old name>`) do not follow: the files get new names.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from addons.services.media_index import CONTENT_TYPES, kind_of

__all__ = ["MEDIA_DIRS", "MediaPlan", "apply_media", "plan_media"]

#: Folder under the old data directory → the kind its files are.
MEDIA_DIRS: tuple[tuple[str, str], ...] = (
    ("files/images", "image"), ("files/videos", "video"),
    ("tmp/image", "image"), ("tmp/video", "video"),
    ("temp/image", "image"), ("temp/video", "video"),
)
_EXT_ALIASES = {"jpeg": "jpg"}


@dataclass(slots=True)
class MediaCopy:
    source: Path
    kind: str
    name: str
    size: int


@dataclass(slots=True)
class MediaPlan:
    copy: list[MediaCopy] = field(default_factory=list)
    present: int = 0
    #: (old path relative to the data directory, why it stays behind)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)


def _content_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode("ascii")


def plan_media(old_root: Path, data_dir: Path) -> MediaPlan:
    """What would be copied from `old_root` into `data_dir/media` (reads the files to name
    them; writes nothing)."""
    plan = MediaPlan()
    seen: set[tuple[str, str]] = set()
    for folder, kind in MEDIA_DIRS:
        directory = old_root / folder
        if not directory.is_dir():
            continue
        plan.folders.append(folder)
        for entry in sorted(directory.iterdir()):
            rel = f"{folder}/{entry.name}"
            if not entry.is_file() or entry.is_symlink():
                continue
            ext = entry.suffix.lower().lstrip(".")
            ext = _EXT_ALIASES.get(ext, ext)
            if ext not in CONTENT_TYPES or kind_of(ext) != kind:
                plan.skipped.append((rel, f"the cache keeps {kind}s as "
                                          + ", ".join(e for e in CONTENT_TYPES
                                                      if kind_of(e) == kind)))
                continue
            name = f"{_content_id(entry)}.{ext}"
            if (kind, name) in seen or (data_dir / "media" / kind / name).exists():
                plan.present += 1
                continue
            seen.add((kind, name))
            plan.copy.append(MediaCopy(entry, kind, name, entry.stat().st_size))
    return plan


def apply_media(plan: MediaPlan, data_dir: Path) -> int:
    """Copy the planned files; returns how many were written."""
    written = 0
    for item in plan.copy:
        target_dir = data_dir / "media" / item.kind
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / item.name
        if target.exists():
            continue
        parts = data_dir / "media" / ".tmp"  # cleared by the cache at start: no leftovers
        parts.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="migrate.", suffix=".part", dir=parts)
        os.close(fd)
        try:
            shutil.copy2(item.source, tmp)  # keeps the time: eviction goes oldest first
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        written += 1
    return written
