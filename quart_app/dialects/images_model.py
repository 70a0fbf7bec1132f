"""The typed body of `POST /v1/images/generations` (OpenAI's image generation), and its
parsing into the neutral `ImageRequest`.

The schema checks types; the rest is checked here, before anything goes upstream, each
refusal a 400 naming the field: the model must be an image-generation model, the prompt must
have text, `n` is 1–10 (1–4 for the lite model) and 1–2 for a stream (code
`invalid_stream_n`), `size` is one of `SIZE_RATIOS` (a pixel size or a ratio), and
`response_format` is `url`, `b64_json` or its older name `base64`. `quality`, `style`,
`background`, `output_format` and `user` are accepted and not used.
"""
from __future__ import annotations

from typing import Any

from msgspec import Struct

from addons.errors import ApiError, validation
from addons.jobs import ImageRequest
from addons.upstream.imagine_frames import SIZE_RATIOS
from addons.upstream_request import LITE_IMAGE_MODEL
from quart_app.dialects.common_request import stream_flag
from quart_app.dialects.schema import Text, decode

#: what `response_format` may say, and what it means
RESPONSE_FORMATS = {"url": "url", "b64_json": "b64_json", "base64": "b64_json"}
MAX_N, LITE_MAX_N, STREAM_MAX_N = 10, 4, 2
DEFAULT_SIZE = "1024x1024"


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
    if not body.prompt.strip():
        raise validation("prompt must not be empty", "prompt")
    stream = stream_flag(body.stream, settings)
    n = 1 if body.n is None else body.n
    most = LITE_MAX_N if spec.id == LITE_IMAGE_MODEL else MAX_N
    if not 1 <= n <= most:
        raise validation(f"n must be between 1 and {most} for {spec.id}", "n")
    if stream and n > STREAM_MAX_N:
        raise validation(f"A streamed image request makes 1 or {STREAM_MAX_N} images", "n",
                         code="invalid_stream_n")
    size = DEFAULT_SIZE if body.size is None else body.size.strip()
    if size not in SIZE_RATIOS:
        raise validation(f"size must be one of {', '.join(SIZE_RATIOS)}", "size")
    fmt = "url" if body.response_format is None else body.response_format.strip()
    if fmt not in RESPONSE_FORMATS:
        raise validation("response_format must be url or b64_json", "response_format")
    options = {"user": body.user} if body.user else {}
    return ImageRequest(model=body.model, stream=stream, prompt=body.prompt, n=n, size=size,
                        response_format=RESPONSE_FORMATS[fmt], options=options)
