"""The typed body of `POST /v1/images/generations` (OpenAI's image generation), and its
parsing into the neutral `ImageRequest`.

The schema checks types; the values are checked by the media options every dialect shares
(`addons/media_options.py`), before anything goes upstream, each refusal a 400 naming the
field: the model must be an image-generation model, the prompt must have text, `n` is 1–10
(1–4 for the lite model) and 1–2 for a stream (code `invalid_stream_n`), `size` is a pixel
size or a ratio of `IMAGE_SIZES`, and `response_format` is `url`, `b64_json` or its older
name `base64`. `quality`, `style`, `background`, `output_format` and `user` are accepted and
not used.
"""
from __future__ import annotations

from typing import Any

from msgspec import Struct

from addons import media_options as opt
from addons.errors import ApiError, validation
from addons.jobs import ImageRequest
from quart_app.dialects.common_request import stream_flag
from quart_app.dialects.schema import Text, decode

#: a streamed request makes at most this many images
STREAM_MAX_N = 2


class ImageGenerationBody(Struct):
    model: Text
    prompt: str
    n: int | None = None
    size: str | None = None
    response_format: str | None = None
    stream: bool | None = None
    # accepted, not used
    quality: str | None = None
    style: str | None = None
    background: str | None = None
    output_format: str | None = None
    user: str | None = None


def parse_image_request(raw: bytes, catalogue: Any, settings: Any) -> ImageRequest:
    body = decode(raw, ImageGenerationBody)
    spec = catalogue.resolve(body.model)
    if spec is None:
        raise ApiError(400, f"Model '{body.model}' does not exist or you do not have access "
                       "to it.", type="validation_error", code="model_not_found", param="model")
    if spec.capability != "image":
        raise validation(f"Model '{body.model}' does not generate images; use an image model "
                         "such as grok-imagine-image", "model")
    prompt = opt.prompt(body.prompt)
    stream = stream_flag(body.stream, settings)
    n = opt.image_n(spec.id, body.n)
    if stream and n > STREAM_MAX_N:
        raise validation(f"A streamed image request makes 1 or {STREAM_MAX_N} images", "n",
                         code="invalid_stream_n")
    size = opt.image_size(body.size)
    fmt = opt.response_format(body.response_format)
    options = {"user": body.user} if body.user else {}
    return ImageRequest(model=body.model, stream=stream, prompt=prompt, n=n, size=size,
                        response_format=fmt, options=options)
