"""The local media cache: generated images and videos downloaded once, kept under
`${DATA_DIR}/media/{image,video}`, and served by `/v1/files/{image,video}?id=…`.

A download goes through the REST transport with the owning account's cookies (the asset
host answers only that account), through the configured egress. One download per URL at a
time (later callers of the same URL wait for the first), at most
`cache.local.download_concurrency` downloads at once. The body streams into a temporary
file in `media/.tmp` and is renamed into place only when complete, so a reader never sees
half a file. Each kind has its own size limit; storing a file evicts the oldest others of
its kind until the total fits.

The operator's view (the admin API and `grok2api cache`, which both only call these):
`stats(kind)`, `list(kind, page, page_size)` newest first, `delete(kind, name)` and
`clear(kind)`. Stats and listings read the directory, which is the truth (another worker's
files included); deletes keep this process's index and URL memory in step.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from addons.services.media_index import (
    CONTENT_TYPES, EXTENSIONS, ID_PATTERN, KINDS, MediaFile, MediaIndex, kind_extensions,
    kind_of, parse_name,
)
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.wire import UpstreamRequest
from state.options import Loader

__all__ = ["CachePage", "CacheStats", "InvalidMediaName", "MediaCache", "MediaFetchError",
           "MediaFile", "check_name", "item_view"]

log = logging.getLogger(__name__)

MIB = 1 << 20
#: upstream URLs whose local copy is remembered (a later link to the same file reuses it)
_REMEMBERED = 10_000
_MEDIA_ACCEPT = {
    "image": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
    "video": "video/webm,video/mp4,video/*;q=0.9,*/*;q=0.5",
}
_DEFAULT_EXT = {"image": "jpg", "video": "mp4"}
_URL_EXT = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif",
            "mp4": "mp4", "webm": "webm"}


class Downloader(Protocol):
    """What the cache needs of the transport (`CurlTransport.download`)."""

    cfg: UpstreamConfig

    async def download(self, request: UpstreamRequest,
                       sink: Callable[[bytes], Awaitable[None]], *, timeout: float = ...,
                       max_bytes: int = ...) -> tuple[int, dict[str, str]]: ...


class MediaFetchError(Exception):
    """The file could not be cached: upstream refused it, it is too large, or the transfer
    failed. The message never carries the account's token."""


class InvalidMediaName(ValueError):
    """A file name an operator gave that cannot name a file of the cache: empty (`missing`),
    or with a path separator, a leading dot or an extension the kind is never stored under."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


#: Longest file name accepted (a file system's usual limit).
_MAX_NAME = 255


def check_name(kind: str, name: object) -> str:
    """`name` as a file name of `kind` the cache may hold; `InvalidMediaName` otherwise. A
    name that passes may still name no file (404 for the caller)."""
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    if name is None or (isinstance(name, str) and not name.strip()):
        raise InvalidMediaName("a file name is required", missing=True)
    if not isinstance(name, str):
        raise InvalidMediaName("a file name is a string")
    if len(name) > _MAX_NAME or any(c in name for c in "/\\\0") or name.startswith(".") \
            or any(ord(c) < 32 for c in name):
        raise InvalidMediaName(f"{name[:80]!r} is not a file name of the cache (no path "
                               "separators, no leading dot)")
    allowed = kind_extensions(kind)
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext not in allowed:
        raise InvalidMediaName(f"{name[:80]!r}: a cached {kind} ends in "
                               + ", ".join("." + e for e in allowed))
    return name


def item_view(media: MediaFile) -> dict[str, Any]:
    """One row of a listing: name, size, last modification (Unix milliseconds)."""
    return {"name": media.name, "size_bytes": media.size, "modified_at": int(media.mtime * 1000)}


@dataclass(frozen=True, slots=True)
class CacheStats:
    count: int
    size_bytes: int
    #: the kind's size limit in bytes (0: unlimited)
    limit_bytes: int

    def to_dict(self) -> dict[str, Any]:
        limited = self.limit_bytes > 0
        ratio = round(self.size_bytes / self.limit_bytes, 4) if limited else None
        return {"count": self.count, "size_mb": round(self.size_bytes / MIB, 2),
                "size_bytes": self.size_bytes, "limit_mb": round(self.limit_bytes / MIB, 2),
                "limit_bytes": self.limit_bytes, "limited": limited, "usage_ratio": ratio,
                "usage_percent": None if ratio is None else round(ratio * 100, 2)}


@dataclass(frozen=True, slots=True)
class CachePage:
    total: int
    page: int
    page_size: int
    items: list[MediaFile]


def _positive(value: int | float) -> None:
    if value <= 0:
        raise ValueError("must be greater than 0")


def _extension(kind: str, content_type: str, url: str) -> str:
    """The stored extension: from the answer's Content-Type when it is a known type of this
    kind, else from the URL's suffix, else the kind's usual one."""
    ext = EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower())
    if ext is not None and kind_of(ext) == kind:
        return ext
    suffix = urlsplit(url).path.rsplit(".", 1)[-1].lower()
    ext = _URL_EXT.get(suffix)
    if ext is not None and kind_of(ext) == kind:
        return ext
    return _DEFAULT_EXT[kind]


class MediaCache:
    """Built without I/O; `start()` (in the serving loop) prepares the directories and reads
    the index; `bind(transport)` gives it the client it downloads with."""

    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("cache.local.image_max_mb", int, 512,
                          "Size limit of the local image cache (MiB); storing an image "
                          "evicts the oldest others beyond it.", check=_positive)
        loader.add_option("cache.local.video_max_mb", int, 2048,
                          "Size limit of the local video cache (MiB); storing a video "
                          "evicts the oldest others beyond it.", check=_positive)
        loader.add_option("cache.local.download_concurrency", int, 4,
                          "Media downloads running at once (more wait their turn). Read at "
                          "startup.", check=_positive)
        loader.add_option("cache.local.download_timeout_sec", float, 300.0,
                          "Longest time one media download may take.", check=_positive)

    def __init__(self, data_dir: Path, settings, transport: Downloader | None = None) -> None:
        self.root = Path(data_dir) / "media"
        self.settings = settings
        self.transport = transport
        self._tmp = self.root / ".tmp"
        self.indexes = {kind: MediaIndex(kind, self.root / kind) for kind in KINDS}
        self._flights: dict[str, asyncio.Future[MediaFile]] = {}
        #: upstream URL → (kind, id) of its copy, the newest _REMEMBERED URLs only
        self._by_url: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._slots = asyncio.Semaphore(settings.options.cache.local.download_concurrency)
        #: how many downloads reached the transport (tests and the status read it)
        self.downloads = 0

    def bind(self, transport: Downloader) -> None:
        self.transport = transport

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        # a download cut by a crash left its part behind; nothing refers to it
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        for index in self.indexes.values():
            index.rebuild()

    def limit(self, kind: str) -> int:
        local = self.settings.options.cache.local
        return (local.image_max_mb if kind == "image" else local.video_max_mb) * MIB

    # -- look-up (the file routes) ----------------------------------------------------
    def find(self, kind: str, media_id: str) -> MediaFile | None:
        """The stored file `media_id` of `kind`, or None. Only a well-formed id is looked
        up, so no request can name a path outside the kind's directory. A file another
        worker stored is found on disk (blocking stat calls: a few, on a local disk)."""
        if kind not in self.indexes or not ID_PATTERN.fullmatch(media_id or ""):
            return None
        index = self.indexes[kind]
        media = index.get(media_id)
        if media is not None:
            if media.path.is_file():
                return media
            index.remove(media_id)  # evicted by another worker
            return None
        for ext, content_type in CONTENT_TYPES.items():
            if not content_type.startswith(kind + "/"):
                continue
            path = index.directory / f"{media_id}.{ext}"
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            media = MediaFile(media_id, kind, ext, path, st.st_size, st.st_mtime)
            index.add(media)
            return media
        return None

    # -- download -------------------------------------------------------------------
    async def fetch(self, url: str, token: str, kind: str) -> MediaFile:
        """The cached copy of `url` (a `kind` file), downloaded with the account `token`
        the first time. Concurrent calls for one URL share one download."""
        if kind not in KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        known = self._by_url.get(url)
        if known is not None:
            media = self.find(*known)
            if media is not None:
                return media
        flight = self._flights.get(url)
        if flight is None:
            flight = asyncio.ensure_future(self._download(url, token, kind))
            self._flights[url] = flight
            flight.add_done_callback(lambda _f: self._flights.pop(url, None))
        # one caller giving up must not cancel the download the others wait for
        return await asyncio.shield(flight)

    async def store(self, data: bytes, kind: str, content_type: str, url: str = "") -> MediaFile:
        """Keep bytes the upstream sent inline (the imagine socket's final image) as a file
        of `kind`, exactly as a download would; `url` (their upstream address) finds it
        again instead of a second copy."""
        known = self._by_url.get(url) if url else None
        if known is not None:
            media = self.find(*known)
            if media is not None:
                return media
        ext = _extension(kind, content_type, url)
        media_id = secrets.token_urlsafe(24)
        target = self.indexes[kind].directory / f"{media_id}.{ext}"
        part = self._tmp / f"{secrets.token_hex(12)}.part"

        def write() -> None:
            self._tmp.mkdir(parents=True, exist_ok=True)
            part.write_bytes(data)
            self._place(part, target)

        try:
            await asyncio.to_thread(write)
        finally:
            await asyncio.to_thread(part.unlink, missing_ok=True)
        st = target.stat()
        media = MediaFile(media_id, kind, ext, target, st.st_size, st.st_mtime)
        self.indexes[kind].add(media)
        if url:
            self._remember(url, kind, media_id)
        await self._evict(kind, keep=media_id)
        return media

    async def _download(self, url: str, token: str, kind: str) -> MediaFile:
        if self.transport is None:
            raise MediaFetchError("the media cache has no transport yet")
        async with self._slots:
            self.downloads += 1
            media = await self._download_to_disk(url, token, kind)
        self._remember(url, kind, media.id)
        await self._evict(kind, keep=media.id)
        return media

    def _remember(self, url: str, kind: str, media_id: str) -> None:
        self._by_url[url] = (kind, media_id)
        self._by_url.move_to_end(url)
        while len(self._by_url) > _REMEMBERED:
            self._by_url.popitem(last=False)

    async def _download_to_disk(self, url: str, token: str, kind: str) -> MediaFile:
        from addons.upstream.transport import DownloadTooLarge  # the curl stack, on use

        assert self.transport is not None
        cfg = self.transport.cfg
        headers = build_headers(cfg, token, origin=None, referer=cfg.referer, content_type=None)
        # an <img>/<video> fetch, not an API call: no statsig, request id or baggage
        for name in ("x-statsig-id", "x-xai-request-id", "Baggage"):
            headers.pop(name, None)
        headers["Accept"] = _MEDIA_ACCEPT[kind]
        self._tmp.mkdir(parents=True, exist_ok=True)
        part = self._tmp / f"{secrets.token_hex(12)}.part"
        handle = await asyncio.to_thread(open, part, "wb")
        local = self.settings.options.cache.local
        try:
            async def sink(data: bytes) -> None:
                await asyncio.to_thread(handle.write, data)

            try:
                status, answer = await self.transport.download(
                    UpstreamRequest("GET", url, headers), sink,
                    timeout=local.download_timeout_sec, max_bytes=self.limit(kind))
            except DownloadTooLarge:
                raise MediaFetchError(f"the {kind} is larger than the cache limit "
                                      f"({self.limit(kind) // MIB} MiB)") from None
            except Exception as exc:  # noqa: BLE001 - any transport failure is the download's
                raise MediaFetchError(f"downloading the {kind} failed: {exc}") from None
            await asyncio.to_thread(handle.close)
            if status != 200:
                raise MediaFetchError(f"the asset host answered HTTP {status} for the {kind}")
            ext = _extension(kind, answer.get("content-type", ""), url)
            media_id = secrets.token_urlsafe(24)
            target = self.indexes[kind].directory / f"{media_id}.{ext}"
            await asyncio.to_thread(self._place, part, target)
        finally:
            if not handle.closed:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(part.unlink, missing_ok=True)
        st = target.stat()
        media = MediaFile(media_id, kind, ext, target, st.st_size, st.st_mtime)
        self.indexes[kind].add(media)
        log.info("cached a %s of %d bytes as %s", kind, media.size, media_id)
        return media

    @staticmethod
    def _place(part: Path, target: Path) -> None:
        """Flush and rename: the file appears complete or not at all."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, target)
        now = time.time()
        os.utime(target, (now, now))  # its age starts when it is stored

    async def _evict(self, kind: str, keep: str) -> None:
        index = self.indexes[kind]
        for media in index.over_limit(self.limit(kind), keep=keep):
            index.remove(media.id)
            await asyncio.to_thread(media.path.unlink, missing_ok=True)
            log.info("evicted the %s %s (%d bytes) to stay under the cache limit",
                     kind, media.id, media.size)

    # -- the operator's view (admin API, CLI) ----------------------------------------
    async def _on_disk(self, kind: str) -> list[MediaFile]:
        if kind not in KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        return list((await asyncio.to_thread(self.indexes[kind].scan)).values())

    async def stats(self, kind: str) -> CacheStats:
        """Files of `kind` on disk, their total size and the kind's limit."""
        files = await self._on_disk(kind)
        return CacheStats(len(files), sum(m.size for m in files), self.limit(kind))

    async def list(self, kind: str, page: int = 1, page_size: int = 1000) -> CachePage:
        """One page of the files of `kind`, newest first (pages count from 1)."""
        files = sorted(await self._on_disk(kind), key=lambda m: (m.mtime, m.id), reverse=True)
        start = (max(1, page) - 1) * page_size
        return CachePage(len(files), page, page_size, files[start:start + page_size])

    async def delete(self, kind: str, name: str) -> bool:
        """Remove the file `name` of `kind` (checked by `check_name` first); False when there
        is none. A client still streaming it finishes (the open file outlives its name)."""
        check_name(kind, name)
        parsed = parse_name(name)
        if parsed is None or kind_of(parsed[1]) != kind:
            return False  # a well-formed name the cache never makes: nothing to delete
        media_id = parsed[0]
        self.indexes[kind].remove(media_id)
        self._forget({(kind, media_id)})
        try:
            await asyncio.to_thread((self.indexes[kind].directory / name).unlink)
        except FileNotFoundError:
            return False
        log.info("deleted the cached %s %s", kind, media_id)
        return True

    async def clear(self, kind: str) -> int:
        """Remove every file of `kind`; the number removed."""
        files = await self._on_disk(kind)
        self.indexes[kind].clear()
        self._forget({(kind, m.id) for m in files}, kind=kind)

        def unlink_all() -> int:
            removed = 0
            for media in files:
                try:
                    media.path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
            return removed

        removed = await asyncio.to_thread(unlink_all)
        log.info("cleared the %s cache: %d files removed", kind, removed)
        return removed

    def _forget(self, copies: set[tuple[str, str]], kind: str | None = None) -> None:
        """Drop the remembered upstream URLs of these copies (or of every copy of `kind`), so
        a later link to the same upstream file downloads it again."""
        for url, copy in list(self._by_url.items()):
            if copy in copies or copy[0] == kind:
                del self._by_url[url]
