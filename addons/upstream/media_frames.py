"""The media parts of a grok.com chat stream → `MediaProgress` / `MediaResult` /
`MediaModerated` (docs/upstream.md, "Media in the chat stream").

Three places carry generated media: `streamingImageGenerationResponse` frames (the image-edit
model, and images a chat model draws), `streamingVideoGenerationResponse` frames (the video
model), and generated-image cards (`image_chunk`). A slot is final at progress 100 (or
`isFinal`) unless moderated; a preview path (`-part-<n>`) is never a result. The
`modelResponse.generatedImageUrls` list is only a fallback for slots that gave no final
frame, and never yields a URL a moderated slot used.
"""
from __future__ import annotations

from typing import Any

from addons.events import Event, MediaModerated, MediaProgress, MediaResult

_VIDEO_URL_KEYS = ("videoUrl", "contentUrl", "assetUrl", "fileUri", "fileURL")


def absolute(url: str, assets_url: str) -> str:
    """An asset path as a URL: a relative path lives on the assets host."""
    if url.startswith(("http://", "https://")):
        return url
    return f"{assets_url}/{url.lstrip('/')}"


def _progress(value: Any) -> int:
    try:
        return max(0, min(100, int(value)))
    except (TypeError, ValueError):
        return 0


class MediaFrames:
    """Media state of one upstream answer: which slots finished, which were withheld."""

    __slots__ = ("assets_url", "_done", "_moderated", "_delivered", "_slots")

    def __init__(self, assets_url: str) -> None:
        self.assets_url = assets_url
        self._done: set[tuple[str, int]] = set()  # (kind, index) already delivered or withheld
        self._moderated: set[str] = set()  # URLs of withheld slots
        self._delivered: set[str] = set()  # URLs already given as results
        self._slots: dict[str, int] = {}  # generated-image card id → index

    def image(self, frame: dict[str, Any], out: list[Event]) -> None:
        index = frame.get("imageIndex")
        index = index if type(index) is int and index >= 0 else 0
        url = frame.get("imageUrl") or frame.get("url")
        progress = _progress(frame.get("progress"))
        final = progress >= 100 or frame.get("isFinal") is True
        self._slot("image", index, url, progress, final, frame.get("moderated") is True,
                   frame.get("assetId"), None, None, out)

    def video(self, frame: dict[str, Any], out: list[Event]) -> None:
        progress = _progress(frame.get("progress"))
        url = next((frame[k] for k in _VIDEO_URL_KEYS if isinstance(frame.get(k), str)
                    and (frame[k].endswith(".mp4") or "/content" in frame[k])), None)
        post = frame.get("videoPostId") or frame.get("postId")
        thumb = frame.get("thumbnailImageUrl")
        self._slot("video", 0, url, progress, progress >= 100, frame.get("moderated") is True,
                   frame.get("assetId"), str(post) if post else None,
                   absolute(thumb, self.assets_url) if isinstance(thumb, str) and thumb else None,
                   out)

    def card(self, card: dict[str, Any], out: list[Event]) -> None:
        """A generated-image card (a chat model drawing): its `image_chunk` as one slot."""
        chunk = card.get("image_chunk") or card.get("imageChunk")
        if not isinstance(chunk, dict):
            return
        key = str(chunk.get("imageUuid") or card.get("id") or "")
        index = self._slots.setdefault(key, len(self._slots))
        progress = _progress(chunk.get("progress"))
        url = chunk.get("imageUrl") or chunk.get("image_url")
        self._slot("image", index, url, progress, progress >= 100, chunk.get("moderated") is True,
                   None, None, None, out)

    def generated_urls(self, urls: list[str], out: list[Event]) -> None:
        """`modelResponse.generatedImageUrls`: results for the slots no final frame gave."""
        delivered = {i for k, i in self._done if k == "image"}
        index = 0
        for url in urls:
            full = absolute(url, self.assets_url)
            if full in self._moderated or full in self._delivered or "-part-" in url:
                continue
            while index in delivered:
                index += 1
            self._done.add(("image", index))
            self._delivered.add(full)
            delivered.add(index)
            out.append(MediaResult("image", index, full))

    def unmoderated(self, urls: list[str]) -> list[str]:
        """`urls` without those of withheld slots."""
        return [u for u in urls if absolute(u, self.assets_url) not in self._moderated]

    def _slot(self, kind: str, index: int, url: Any, progress: int, final: bool, moderated: bool,
              asset_id: Any, post_id: str | None, thumbnail: str | None,
              out: list[Event]) -> None:
        if (kind, index) in self._done:
            return
        full = absolute(url, self.assets_url) if isinstance(url, str) and url else None
        if moderated:
            self._done.add((kind, index))
            if full:
                self._moderated.add(full)
            out.append(MediaModerated(kind, index))
        elif final and full and "-part-" not in full:
            self._done.add((kind, index))
            self._delivered.add(full)
            out.append(MediaResult(kind, index, full, thumbnail=thumbnail,
                                   asset_id=str(asset_id) if asset_id else None,
                                   post_id=post_id))
        else:
            out.append(MediaProgress(kind, index, min(progress, 99)))
