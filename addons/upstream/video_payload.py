"""The grok.com payloads of a video (docs/upstream.md, "Video"): the first segment and the
extensions that make 12, 16 and 20 second videos.

grok.com makes 6 or 10 second clips; a longer video is the first clip extended by further
segments, each continuing the previous segment's post from where it ends, and the last
segment's URL is the stitched whole. Everything here is pure: the builder calls it with what
the account's media posts returned.
"""
from __future__ import annotations

from typing import Any

VIDEO_MODEL = "imagine-video-gen"
#: the `seconds` a client may ask for → the segment lengths grok.com makes them from
SEGMENTS: dict[int, tuple[int, ...]] = {6: (6,), 10: (10,), 12: (6, 6), 16: (10, 6), 20: (10, 10)}
#: the sizes a client may ask for → grok.com's aspect ratio
RATIOS: dict[str, str] = {"720x1280": "9:16", "1024x1792": "9:16", "1280x720": "16:9",
                          "1792x1024": "16:9", "1024x1024": "1:1"}
RESOLUTIONS = ("480p", "720p")
#: the client's preset → the style mode grok.com reads from the message suffix
MODES: dict[str, str] = {"fun": "extremely-crazy", "normal": "normal",
                         "spicy": "extremely-spicy-or-crazy", "custom": "custom"}
#: one frame at 24 fps: an extension starts just after the last frame made so far
FRAME = 1 / 24


def segments(seconds: int) -> tuple[int, ...]:
    return SEGMENTS[seconds]


def start_time(done_seconds: float) -> float:
    """Where an extension starts: the seconds made so far plus one frame, to 6 decimals."""
    return round(done_seconds + FRAME, 6)


def message(prompt: str, preset: str) -> str:
    return f"{prompt} --mode={MODES[preset]}"


def _payload(prompt: str, preset: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "temporary": True,
        "modelName": VIDEO_MODEL,
        "message": message(prompt, preset),
        "enableSideBySide": True,
        "responseMetadata": {"experiments": [], "modelConfigOverride": {
            "modelMap": {"videoGenModelConfig": config}}},
    }


def first_payload(prompt: str, *, parent_post_id: str, size: str, resolution: str, preset: str,
                  length: int, references: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The first segment. `references`: content URLs of the account's uploaded images."""
    config: dict[str, Any] = {"parentPostId": parent_post_id, "aspectRatio": RATIOS[size],
                              "videoLength": length, "resolutionName": resolution}
    if references:
        config.update(isVideoEdit=False, isReferenceToVideo=True,
                      imageReferences=list(references))
    return _payload(prompt, preset, config)


def extension_payload(prompt: str, *, parent_post_id: str, extend_post_id: str,
                      done_seconds: float, size: str, resolution: str, preset: str,
                      length: int) -> dict[str, Any]:
    """A further segment continuing `extend_post_id` (the previous segment's post) after
    `done_seconds`."""
    config = {
        "isVideoExtension": True,
        "videoExtensionStartTime": start_time(done_seconds),
        "extendPostId": extend_post_id,
        "stitchWithExtendPostId": True,
        "originalPrompt": prompt,
        "originalPostId": parent_post_id,
        "originalRefType": "ORIGINAL_REF_TYPE_VIDEO_EXTENSION",
        "mode": MODES[preset],
        "aspectRatio": RATIOS[size],
        "videoLength": length,
        "resolutionName": resolution,
        "parentPostId": parent_post_id,
        "isVideoEdit": False,
    }
    return _payload(prompt, preset, config)
