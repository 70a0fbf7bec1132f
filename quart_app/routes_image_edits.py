"""`POST /v1/images/edits`: the client's images redrawn from a prompt (multipart/form-data).

The images come as `image` (what the OpenAI SDKs send for one file), `image[]` (the SDKs'
and curl's name for several) or `image[<n>]`, in the order sent. Every rule is checked before
anything goes upstream, each failure a 400 naming its parameter (`image.<i>` for one file,
0-based): a file must be a non-empty PNG, JPEG or WebP image (the bytes are sniffed, the
declared type is not trusted) of at most 32 MiB (grok.com's upload limit); at most 7 images;
`mask` is refused (grok.com's edit takes no mask); `model` is the edit model (it is the
default); `prompt`, `n` (1 or 2), `size` (1024x1024) and `response_format` (`url`,
`b64_json`, `base64`) are checked by the media options every endpoint shares; `stream`
defaults to `features.stream`. Other OpenAI fields (`quality`, `background`, `user`, …) are
accepted and ignored.

The API key is checked before the body is looked at (the chain's request-header hooks), so a
stranger learns nothing about these rules. The answer is the images endpoints' JSON, or with
`stream` their SSE events named `image_edit.partial_image` / `image_edit.completed`.
"""
from __future__ import annotations

import base64
import re
from typing import Any

from quart import Blueprint, Response, current_app, request
from werkzeug.datastructures import FileStorage, MultiDict

from addons.errors import ApiError, validation
from addons.image_edit_inputs import MAX_IMAGE_BYTES, sniff_image
from addons.jobs import Attachment, ImageEditRequest
from addons import media_options as opt
from quart_app.dialects.common_request import stream_flag
from quart_app.dialects.images_response import ImageItems, complete_images, stream_images
from quart_app.routes_v1 import json_response, new_flow
from quart_app.sse import sse_response

bp = Blueprint("image_edits", __name__, url_prefix="/v1")

EDIT_MODEL = "grok-imagine-image-edit"
MAX_IMAGES = 7
#: a form without files is still read, so its missing image is a 400 naming `image`
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_IMAGE_FIELD = re.compile(r"image(\[\d*\])?")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class EditForm:
    """The multipart body, read before the API key is checked but judged only after."""

    def __init__(self, form: MultiDict | None, files: MultiDict | None,
                 error: ApiError | None) -> None:
        self.form = form or MultiDict()
        self.files = files or MultiDict()
        self.error = error

    @classmethod
    async def read(cls) -> "EditForm":
        if request.mimetype not in FORM_TYPES:
            return cls(None, None, ApiError(
                415, "Content-Type must be multipart/form-data (the images are files)",
                type="validation_error", code="unsupported_media_type"))
        try:
            return cls(await request.form, await request.files, None)
        except Exception:  # noqa: BLE001 - a malformed body is the client's, whatever broke
            return cls(None, None, validation("The multipart/form-data body is malformed", None,
                                              code="invalid_multipart"))

    def text(self, name: str) -> str | None:
        value = self.form.get(name)
        if value is None and name in self.files:
            # a text field sent as a file part: read it like curl's `-F name=<file`
            value = self.files[name].read().decode("utf-8", "replace")
        return value

    def parse(self, catalogue: Any, settings: Any) -> ImageEditRequest:
        if self.error is not None:
            raise self.error
        if "mask" in self.files or "mask" in self.form:
            raise validation("mask is not supported: grok.com's image edit takes no mask; "
                             "describe the change in the prompt instead", "mask",
                             code="unsupported_parameter")
        model = (self.text("model") or EDIT_MODEL).strip()
        spec = catalogue.resolve(model)
        if spec is None or spec.capability != "image_edit":
            raise validation(f"Model '{model}' cannot edit images; use {EDIT_MODEL}", "model",
                             code="model_not_found" if spec is None else "model_not_supported")
        prompt = opt.prompt(self.text("prompt"))
        images = self.images()
        n = opt.image_n(spec.id, self.integer("n"))
        size = opt.image_size(self.text("size") or None, edit=True)
        response_format = opt.response_format(self.text("response_format") or None)
        return ImageEditRequest(model=spec.id, prompt=prompt, n=n, size=size,
                                response_format=response_format, images=images,
                                stream=stream_flag(self.boolean("stream"), settings))

    def images(self) -> list[Attachment]:
        found = [f for key, f in self.files.items(multi=True) if _IMAGE_FIELD.fullmatch(key)]
        if not found:
            raise validation("image is required: send one or more image files as `image` "
                             "or `image[]`", "image")
        if len(found) > MAX_IMAGES:
            raise validation(f"Too many images: {len(found)}, at most {MAX_IMAGES}", "image",
                             code="too_many_images")
        return [self.image(i, f) for i, f in enumerate(found)]

    @staticmethod
    def image(index: int, file: FileStorage) -> Attachment:
        param = f"image.{index}"
        what = f"image {index}" + (f" ({file.filename!r})" if file.filename else "")
        data = file.read(MAX_IMAGE_BYTES + 1)
        if not data:
            raise validation(f"{what} is empty", param, code="empty_file")
        if len(data) > MAX_IMAGE_BYTES:
            raise validation(f"{what} is larger than {MAX_IMAGE_BYTES >> 20} MiB", param,
                             code="file_too_large")
        mime = sniff_image(data)
        if mime is None:
            raise validation(f"{what} is not a PNG, JPEG or WebP image", param,
                             code="invalid_image")
        name = file.filename or f"image.{mime.rsplit('/', 1)[1]}"
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        return Attachment("image", uri, name)

    def integer(self, name: str) -> int | None:
        """A form field is text: `"2"` is 2 (the media checks then judge the number)."""
        value = self.text(name)
        if value is None or not value.strip():
            return None
        try:
            return int(value.strip())
        except ValueError:
            raise validation(f"{name} must be an integer, not {value[:40]!r}", name) from None

    def boolean(self, name: str) -> bool | None:
        value = (self.text(name) or "").strip().lower()
        if not value:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise validation(f"{name} must be true or false, not {value[:40]!r}", name)


@bp.post("/images/edits")
async def image_edits() -> Response:
    svc = current_app.extensions["grok2api"]
    body = await EditForm.read()
    flow = new_flow(svc, request.headers, dialect="openai.images")
    # auth first (request-header hooks), then the body's rules; errors before the upstream
    # answered are plain JSON errors, even for a stream
    await svc.pipeline.open(flow, lambda: body.parse(svc.catalogue, svc.settings))
    job: ImageEditRequest = flow.request
    items = ImageItems(svc.media_output, flow, job.response_format,
                       svc.media_output.base(request.headers))
    if job.stream:
        stream = stream_images(svc.pipeline, flow, items, job.size, prefix="image_edit")
        svc.pipeline.close_when_dropped(stream, flow)
        return sse_response(stream)
    return json_response(await complete_images(svc.pipeline, flow, items))
