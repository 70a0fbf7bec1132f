"""A chat completions body for an image, image-edit or video model → its media job.

The prompt and the reference images come from the messages:
- image generation: the last user message that has text;
- image edit: the last text of the history, and every `image_url` part in order (the last
  7 are used, at least one is required);
- video: from the end, the first message with text, and its images (or the newest message
  that has any; the first 7 are used, the first one starts the video).
Options come from `image_config` / `video_config` (older video keys mapped), checked in
`media_options.py`. A `response_format` in `image_config` wins over `features.image_format`
for that request (`options["response_format"]`).
"""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from addons.jobs import Attachment, ImageEditRequest, ImageRequest, JobRequest, Message, VideoRequest
from addons.services.catalogue import ModelSpec
from quart_app.dialects import media_options as opt
from quart_app.dialects.chat_model import ChatBody
from quart_app.dialects.common_request import stream_flag
from quart_app.dialects.openai_chat_request import messages_of, show_reasoning

MAX_REFERENCES = 7


def _text(message: Message) -> str:
    return "\n".join(p for p in message.parts if p.strip()).strip()


def _images(message: Message) -> list[Attachment]:
    return [a for a in message.attachments if a.kind == "image"]


def _config(value: dict[str, Any] | None, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise validation(f"{param} must be an object", param)
    return value


def parse_chat_media(req: ChatBody, settings: Any, spec: ModelSpec) -> JobRequest:
    messages = messages_of(req)
    common: dict[str, Any] = {"model": req.model, "stream": stream_flag(req.stream, settings),
                              "reasoning": show_reasoning(req, settings),
                              "include_usage": bool(req.stream_options is not None
                                                    and req.stream_options.include_usage)}
    if spec.capability == "video":
        return _video(messages, _config(req.video_config, "video_config"), common)
    config = _config(req.image_config, "image_config")
    edit = spec.capability == "image_edit"
    n = opt.image_n(req.model, config.get("n"), "image_config.n")
    size = opt.image_size(config.get("size"), "image_config.size", edit=edit)
    fmt = opt.response_format(config.get("response_format"), "image_config.response_format")
    if config.get("response_format") is not None:
        common["options"] = {"response_format": fmt}
    if edit:
        prompt = next((t for t in (_text(m) for m in reversed(messages)) if t), "")
        images = [a for m in messages for a in _images(m)][-MAX_REFERENCES:]
        if not images:
            raise validation("the image-edit model needs at least one image_url part", "messages")
        return ImageEditRequest(prompt=opt.prompt(prompt, "messages"), n=n, size=size,
                                response_format=fmt, images=images, **common)
    prompt = next((t for t in (_text(m) for m in reversed(messages) if m.role == "user") if t), "")
    return ImageRequest(prompt=opt.prompt(prompt, "messages"), n=n, size=size,
                        response_format=fmt, **common)


def _video(messages: list[Message], config: dict[str, Any], common: dict[str, Any]) -> VideoRequest:
    config = opt.legacy_video_config(config, "video_config")
    source = next((m for m in reversed(messages) if _text(m)), None)
    if source is None:
        raise validation("the video model needs a message with text (the prompt)", "messages")
    images = _images(source) or next((_images(m) for m in reversed(messages) if _images(m)), [])
    return VideoRequest(prompt=_text(source),
                        seconds=opt.video_seconds(config.get("seconds"), "video_config.seconds"),
                        size=opt.video_size(config.get("size"), "video_config.size"),
                        resolution=opt.resolution(config.get("resolution_name"),
                                                  "video_config.resolution_name"),
                        preset=opt.preset(config.get("preset"), "video_config.preset"),
                        references=images[:MAX_REFERENCES], **common)
