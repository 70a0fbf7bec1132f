"""What the local media cache holds: one entry per stored file, per kind (image, video).

The directory is the truth: the index is rebuilt from it on start (a file's name is its id
and its type, its mtime its age), so a crash can never leave an index that disagrees with the
disk, and several workers sharing one `DATA_DIR` each see every file. Eviction is
oldest-first by that age.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTENT_TYPES", "EXTENSIONS", "ID_PATTERN", "KINDS", "MediaFile", "MediaIndex",
           "kind_extensions", "kind_of", "parse_name"]

KINDS = ("image", "video")

#: stored file extension → Content-Type it is served with
CONTENT_TYPES: dict[str, str] = {
    "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
    "mp4": "video/mp4", "webm": "video/webm",
}
#: Content-Type (as upstream sends it) → the extension it is stored under
EXTENSIONS: dict[str, str] = {t: e for e, t in CONTENT_TYPES.items()} | {"image/jpg": "jpg"}

#: what secrets.token_urlsafe(24) makes: 32 URL-safe characters; nothing else is ever an id,
#: so no dot, slash or percent sign reaches a path
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
_NAME = re.compile(r"(?P<id>[A-Za-z0-9_-]{32})\.(?P<ext>[a-z0-9]{2,4})")


def kind_of(ext: str) -> str:
    return CONTENT_TYPES[ext].split("/", 1)[0]


def kind_extensions(kind: str) -> tuple[str, ...]:
    """The extensions files of `kind` are stored under."""
    return tuple(e for e in CONTENT_TYPES if kind_of(e) == kind)


def parse_name(name: str) -> tuple[str, str] | None:
    """(id, extension) of a name the cache could have made, else None."""
    match = _NAME.fullmatch(name)
    return (match["id"], match["ext"]) if match is not None else None


@dataclass(frozen=True, slots=True)
class MediaFile:
    id: str
    kind: str
    ext: str
    path: Path
    size: int
    mtime: float

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.ext]

    @property
    def name(self) -> str:
        """The file's name in its kind's directory (what the admin API and the CLI show)."""
        return f"{self.id}.{self.ext}"

    @property
    def etag(self) -> str:
        # a stored file never changes under its id: the id and size identify the bytes
        return f'"{self.id}-{self.size:x}"'


class MediaIndex:
    """In-memory entries of one kind's directory, with their total size."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self._files: dict[str, MediaFile] = {}
        self.total = 0

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, media_id: str) -> bool:
        return media_id in self._files

    def scan(self) -> dict[str, MediaFile]:
        """The files of this kind on disk now, by id (blocking: run it in a thread). Names
        that are not an id with a known extension of this kind (leftovers, foreign files)
        are ignored."""
        files: dict[str, MediaFile] = {}
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            match = _NAME.fullmatch(entry.name)
            if match is None or match["ext"] not in CONTENT_TYPES \
                    or kind_of(match["ext"]) != self.kind:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            files[match["id"]] = MediaFile(match["id"], self.kind, match["ext"],
                                           Path(entry.path), st.st_size, st.st_mtime)
        return files

    def rebuild(self) -> None:
        """Re-read the directory (blocking: run it in a thread)."""
        files = self.scan()
        self._files = files
        self.total = sum(f.size for f in files.values())

    def clear(self) -> None:
        self._files = {}
        self.total = 0

    def add(self, media: MediaFile) -> None:
        old = self._files.get(media.id)
        if old is not None:
            self.total -= old.size
        self._files[media.id] = media
        self.total += media.size

    def get(self, media_id: str) -> MediaFile | None:
        return self._files.get(media_id)

    def remove(self, media_id: str) -> MediaFile | None:
        media = self._files.pop(media_id, None)
        if media is not None:
            self.total -= media.size
        return media

    def over_limit(self, limit: int, keep: str | None = None) -> list[MediaFile]:
        """The oldest entries to drop so the total fits `limit` bytes; `keep` (the file just
        stored) is never among them."""
        excess = self.total - limit
        if excess <= 0:
            return []
        victims: list[MediaFile] = []
        for media in sorted(self._files.values(), key=lambda m: (m.mtime, m.id)):
            if excess <= 0:
                break
            if media.id == keep:
                continue
            victims.append(media)
            excess -= media.size
        return victims
