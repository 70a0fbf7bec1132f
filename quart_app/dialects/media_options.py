"""The media generation options every dialect accepts, checked the same way wherever they
arrive (`/v1/images/*`, `/v1/videos`, `image_config` / `video_config` of a chat request).

Each check returns the normalised value or raises a 400 naming the parameter, before
anything goes upstream.
"""
from __future__ import annotations

from typing import Any

from addons.errors import validation

#: OpenAI pixel sizes and plain ratios → the aspect ratio grok.com draws
IMAGE_SIZES = {"1280x720": "16:9", "720x1280": "9:16", "1792x1024": "3:2", "1024x1792": "2:3",
               "1024x1024": "1:1", "16:9": "16:9", "9:16": "9:16", "3:2": "3:2", "2:3": "2:3",
               "1:1": "1:1"}
EDIT_SIZES = ("1024x1024",)
#: how many images one request may ask for, by model
IMAGE_N = {"grok-imagine-image-lite": 4, "grok-imagine-image-edit": 2}
IMAGE_N_DEFAULT = 10
RESPONSE_FORMATS = {"url": "url", "b64_json": "b64_json", "base64": "b64_json"}

VIDEO_SECONDS = (6, 10, 12, 16, 20)
VIDEO_SIZES = {"720x1280": "9:16", "1280x720": "16:9", "1024x1024": "1:1", "1024x1792": "9:16",
               "1792x1024": "16:9"}
#: older `aspect_ratio` values → the size that draws them
VIDEO_RATIOS = {"16:9": "1280x720", "9:16": "720x1280", "1:1": "1024x1024", "2:3": "1024x1792",
                "3:2": "1792x1024"}
RESOLUTIONS = ("480p", "720p")
LEGACY_RESOLUTIONS = {"SD": "480p", "HD": "720p"}
PRESETS = ("fun", "normal", "spicy", "custom")


def prompt(value: Any, param: str = "prompt") -> str:
    if not isinstance(value, str) or not value.strip():
        raise validation("prompt must be a non-empty string", param)
    return value


def image_n(model: str, value: Any, param: str = "n") -> int:
    most = IMAGE_N.get(model, IMAGE_N_DEFAULT)
    if value is None:
        return 1
    if type(value) is not int or not 1 <= value <= most:
        raise validation(f"n must be an integer from 1 to {most} for {model}", param)
    return value


def image_size(value: Any, param: str = "size", *, edit: bool = False) -> str:
    if value is None:
        return "1024x1024"
    allowed = EDIT_SIZES if edit else tuple(IMAGE_SIZES)
    if value not in allowed:
        raise validation(f"size must be one of {', '.join(allowed)}", param)
    return value


def response_format(value: Any, param: str = "response_format") -> str:
    """`url` | `b64_json` (`base64` is its older name)."""
    if value is None:
        return "url"
    if value not in RESPONSE_FORMATS:
        raise validation("response_format must be url or b64_json", param)
    return RESPONSE_FORMATS[value]


def video_seconds(value: Any, param: str = "seconds") -> int:
    if value is None:
        return 6
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if type(value) is not int or value not in VIDEO_SECONDS:
        raise validation(f"seconds must be one of {', '.join(map(str, VIDEO_SECONDS))}", param)
    return value


def video_size(value: Any, param: str = "size") -> str:
    if value is None:
        return "720x1280"
    if value not in VIDEO_SIZES:
        raise validation(f"size must be one of {', '.join(VIDEO_SIZES)}", param)
    return value


def resolution(value: Any, param: str = "resolution_name") -> str:
    if value is None:
        return "720p"
    if value not in RESOLUTIONS:
        raise validation("resolution_name must be 480p or 720p", param)
    return value


def preset(value: Any, param: str = "preset") -> str:
    if value is None:
        return "custom"
    if value not in PRESETS:
        raise validation(f"preset must be one of {', '.join(PRESETS)}", param)
    return value


def legacy_video_config(config: dict[str, Any], param: str) -> dict[str, Any]:
    """The older `video_config` keys mapped onto the current ones (a current key wins):
    `aspect_ratio` → `size`, `video_length` (5–15) → the nearest `seconds`, `resolution`
    SD/HD → `resolution_name`."""
    out = dict(config)
    ratio = config.get("aspect_ratio")
    if ratio is not None and "size" not in config:
        if ratio not in VIDEO_RATIOS:
            raise validation(f"aspect_ratio must be one of {', '.join(VIDEO_RATIOS)}",
                             f"{param}.aspect_ratio")
        out["size"] = VIDEO_RATIOS[ratio]
    length = config.get("video_length")
    if length is not None and "seconds" not in config:
        if type(length) is not int or not 5 <= length <= 15:
            raise validation("video_length must be an integer from 5 to 15",
                             f"{param}.video_length")
        out["seconds"] = min(VIDEO_SECONDS, key=lambda s: (abs(s - length), s))
    old = config.get("resolution")
    if old is not None and "resolution_name" not in config:
        if old not in LEGACY_RESOLUTIONS:
            raise validation("resolution must be SD or HD", f"{param}.resolution")
        out["resolution_name"] = LEGACY_RESOLUTIONS[old]
    return out
