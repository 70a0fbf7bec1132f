"""`POST /v1/videos` (JSON or multipart) and `POST /v1/videos/generations` (JSON) → a
`VideoRequest`.

The official SDK sends multipart: the fields as form values (`seconds` as text) and the
reference image as the file `input_reference` (`input_reference[]` for several). A JSON body
may name references as data URIs or http(s) URLs, alone, in a list, or as
`{"image_url": …}` objects. Every value is checked here, so a bad one is a 400 naming its
field before the job exists; the first `MAX_REFERENCES` references are used.
"""
from __future__ import annotations

import base64
from typing import Any

from msgspec import Struct

from addons.errors import validation
from addons.jobs import Attachment, VideoRequest
from addons import media_options as opt
from addons.video_posts import MAX_REFERENCES
from quart_app.dialects.media import file_id_unsupported, media_value
from quart_app.dialects.schema import Text, decode
from addons.services.fetch import is_data_uri, split_data_uri

PARAM = "input_reference"


class ImageReference(Struct, kw_only=True):
    """OpenAI's reference object: a URL or data URI (`file_id` is not served here)."""

    image_url: str | None = None
    file_id: str | None = None


Reference = str | ImageReference


class VideoBody(Struct, kw_only=True):
    model: Text
    prompt: str
    seconds: int | str | None = None
    size: str | None = None
    resolution_name: str | None = None
    preset: str | None = None
    input_reference: Reference | list[Reference] | None = None


def _too_large(size: int, max_bytes: int, what: str, param: str) -> None:
    if size > max_bytes:
        raise validation(f"{what} is {size} bytes, more than the {max_bytes} byte limit "
                         "(attachments.max_file_bytes)", param, code="attachment_too_large")


def _image_value(value: str, param: str, max_bytes: int) -> str:
    url = media_value(value, param)
    if is_data_uri(url):
        mime, _, payload = split_data_uri(url)
        if not mime.startswith("image/"):
            raise validation(f"{param} must be an image", param, code="invalid_image")
        _too_large(len(payload.strip()) * 3 // 4, max_bytes, param, param)
    return url


def _references(value: Reference | list[Reference] | None, max_bytes: int) -> list[Attachment]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    refs: list[Attachment] = []
    for i, item in enumerate(items[:MAX_REFERENCES]):
        param = PARAM if len(items) == 1 else f"{PARAM}.{i}"
        if isinstance(item, ImageReference):
            if item.image_url is None:
                raise file_id_unsupported(param) if item.file_id else validation(
                    "a reference needs an image_url", param)
            item = item.image_url
        refs.append(Attachment("image", _image_value(item, param, max_bytes)))
    return refs


def uploaded_reference(data: bytes, mime: str | None, name: str | None, index: int,
                       max_bytes: int) -> Attachment:
    """A multipart file as a reference: only an image type, within the size limit."""
    mime = (mime or "").split(";", 1)[0].strip().lower()
    if not mime.startswith("image/"):
        raise validation(f"{PARAM} file {index + 1} is {mime or 'of no type'}, not an image",
                         PARAM, code="invalid_image")
    if not data:
        raise validation(f"{PARAM} file {index + 1} is empty", PARAM, code="invalid_image")
    _too_large(len(data), max_bytes, f"{PARAM} file {index + 1}", PARAM)
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return Attachment("image", uri, name or None)


def to_request(body: VideoBody, max_bytes: int,
               uploads: list[Attachment] | None = None) -> VideoRequest:
    """`max_bytes`: the largest reference image (`attachments.max_file_bytes`)."""
    refs = (list(uploads or []) + _references(body.input_reference, max_bytes))[:MAX_REFERENCES]
    return VideoRequest(
        model=body.model.strip(), prompt=opt.prompt(body.prompt).strip(),
        seconds=opt.video_seconds(body.seconds), size=opt.video_size(body.size or None),
        resolution=opt.resolution(body.resolution_name or None),
        preset=opt.preset(body.preset or None), references=refs)


def parse_json(raw: bytes, max_bytes: int) -> VideoRequest:
    return to_request(decode(raw, VideoBody), max_bytes)


def parse_form(fields: dict[str, Any], uploads: list[Attachment], max_bytes: int) -> VideoRequest:
    """Form values (text) and the uploaded reference files."""
    return to_request(decode(fields, VideoBody), max_bytes, uploads)
