"""Media parts shared by the request parsers.

The typed models have checked each field's type; here the value's shape is checked (an
http(s) URL or a `data:<mime>;base64,` URI with a payload), so every rejection names the
exact part before any byte is streamed. Decoding, downloading and the size limits happen
once per request in the attachments addon.
"""
from __future__ import annotations

from typing import Any

from addons.errors import ApiError, validation
from addons.jobs import Attachment
from addons.services.fetch import MediaError, is_data_uri, is_http_url, split_data_uri

#: input_audio `format` → MIME, when the data is raw base64 (OpenAI's own shape).
AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
              "opus": "audio/opus", "aac": "audio/aac", "m4a": "audio/mp4", "webm": "audio/webm",
              "pcm16": "audio/pcm"}


def media_value(value: Any, param: str) -> str:
    """A URL or a data URI, checked for shape; raw base64 and anything else is a 400."""
    if not isinstance(value, str) or not value.strip():
        raise validation("File input must be a URL or data URI (a non-empty string)", param)
    value = value.strip()
    if is_http_url(value):
        return value
    if is_data_uri(value):
        try:
            split_data_uri(value)
        except MediaError as exc:
            raise validation(f"{exc} ({param})", param) from None
        return value
    raise validation(f"File input must be a URL or data URI, not raw base64 or another scheme ({param})",
                     param)


def attachment(kind: str, value: Any, param: str, name: Any = None) -> Attachment:
    return Attachment(kind, media_value(value, param), name if isinstance(name, str) and name else None)


def base64_attachment(kind: str, data: Any, mime: Any, param: str, name: Any = None) -> Attachment:
    """Raw base64 whose part declares its own media type (Anthropic `source.media_type`,
    OpenAI `input_audio.format`): the one case raw base64 is accepted, as a data URI."""
    if not isinstance(data, str) or not data.strip():
        raise validation("base64 data must be a non-empty string", param)
    if is_data_uri(data.strip()) or is_http_url(data.strip()):
        return attachment(kind, data, param, name)
    return attachment(kind, f"data:{mime};base64,{data}", param, name)


def file_id_unsupported(param: str) -> ApiError:
    return validation("File ids are not supported by this gateway: send the file inline as a data URI "
                      "(file_data) or as an http(s) URL", param, code="unsupported_content")


def image_url_part(image_url: Any, where: str) -> Attachment:
    """OpenAI chat `image_url`: `{"url": …}` or a bare string."""
    if isinstance(image_url, str):
        return attachment("image", image_url, f"{where}.image_url")
    return attachment("image", image_url.url, f"{where}.image_url.url")


def input_audio_part(audio: Any, where: str) -> Attachment:
    """`input_audio`: `{"data": …, "format": "wav"}`."""
    fmt = (audio.format or "").lower()
    param = f"{where}.input_audio.data"
    if fmt in AUDIO_MIME:
        return base64_attachment("audio", audio.data, AUDIO_MIME[fmt], param, f"audio.{fmt}")
    return attachment("audio", audio.data, param)


def file_part(ref: Any, where: str) -> Attachment:
    """OpenAI chat `file`: `{"file_data"|"data": …, "filename": …}`."""
    if ref.file_id is not None and ref.file_data is None and ref.data is None:
        raise file_id_unsupported(f"{where}.file.file_id")
    key = "file_data" if ref.file_data is not None else "data"
    return attachment("file", getattr(ref, key), f"{where}.file.{key}", ref.filename)


def responses_image_part(part: Any, where: str) -> Attachment:
    """Responses `input_image` (`image_url` string or `{url}`) and `image` (`image_url` or
    `source.url`, or a base64 `source`)."""
    raw = part.image_url
    if raw is not None and not isinstance(raw, str):
        return attachment("image", raw.url, f"{where}.image_url.url")
    if raw is not None:
        return attachment("image", raw, f"{where}.image_url")
    source = part.source
    if source is not None:
        if source.type == "base64":
            return base64_attachment("image", source.data, source.media_type or "image/png",
                                     f"{where}.source.data")
        return attachment("image", source.url, f"{where}.source.url")
    if part.file_id is not None:
        raise file_id_unsupported(f"{where}.file_id")
    raise validation("image part needs 'image_url'", f"{where}.image_url")


def responses_file_part(part: Any, where: str) -> Attachment:
    """Responses `input_file` with `file_data` (data URI) or `file_url`."""
    if part.file_data is not None:
        return attachment("file", part.file_data, f"{where}.file_data", part.filename)
    if part.file_url is not None:
        return attachment("file", part.file_url, f"{where}.file_url", part.filename)
    if part.file_id is not None:
        raise file_id_unsupported(f"{where}.file_id")
    raise validation("input_file part needs 'file_data' or 'file_url'", f"{where}.file_data")
