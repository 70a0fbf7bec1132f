"""Builds the grok.com request of each try, with one builder per kind of job.

A builder has two steps: `prepare(flow)` once per request (the chat's flattened prompt, a
400 when there is nothing to send) and `build(flow, cfg)` per try (the cookie and the
anti-bot header belong to the leased account and change with it). The media issues add
their builders to `BUILDERS` next to the transports they mount.
"""
from __future__ import annotations

from typing import Any, Protocol

from addons.errors import validation
from addons.media_options import IMAGE_SIZES
from addons.flow import Flow
from addons.tools.prompt import with_tool_block
from addons.upstream.chat_payload import build_chat_payload
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.imagine import IMAGINE_PATH
from addons.upstream.imagine_chat import DRAWING
from addons.upstream.imagine_frames import DEFAULT_RATIO
from addons.upstream.image_edit import build_edit_call
from addons.upstream.prompt import flatten
from addons.upstream.wire import UpstreamRequest
from addons.video_builder import VideoBuilder
from addons.console_builder import (
    ConsoleChatBuilder, SpeechBuilder, TranscriptionBuilder, VoiceTokenBuilder,
)

CHAT_PATH = "/rest/app-chat/conversations/new"
#: grok.com checks Origin/Referer against its own site, whatever base URL we reach it through.
ORIGIN = "https://grok.com"


class Builder(Protocol):
    def prepare(self, flow: Flow) -> None: ...

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest: ...


class ChatBuilder:
    """`POST /rest/app-chat/conversations/new`, or the continuation of a stored conversation
    when the try runs on its account (`attempt.continued`)."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = flatten(flow.request.messages)
        if not flow.prompt.strip():
            raise validation("Empty message after extraction: send at least one text part", "messages")
        flow.prompt = with_tool_block(flow.prompt, flow.request)

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        attempt = flow.attempt
        headers = build_headers(cfg, flow.lease.token, origin=ORIGIN, referer=ORIGIN + "/",
                                fresh_statsig=flow.statsig_renewed)
        file_ids = attempt.file_ids
        message = flow.prompt
        extra: dict[str, Any] = {}
        if flow.keep_conversation:
            extra["temporary"] = False
        target = flow.continued
        if attempt.continued and target is not None:
            message = target.prompt
            # attachments are uploaded for every message, in message order: keep the new ones
            file_ids = file_ids[target.old_files:]
            extra["conversationId"] = target.conversation_id
            extra["parentResponseId"] = target.upstream_response_id
        payload = build_chat_payload(cfg, message, attempt.mode, file_ids=file_ids,
                                     overrides=extra)
        return UpstreamRequest("POST", cfg.base_url + CHAT_PATH, headers, payload)


#: the image model drawn through the chat only (no aspect ratio control, the `fast` window)
LITE_IMAGE_MODEL = "grok-imagine-image-lite"
#: the image model of the quality ("pro") mode
PRO_IMAGE_MODEL = "grok-imagine-image-pro"
#: an account put through the NSFW sequence carries this tag (addons/services/nsfw.py)
NSFW_TAG = "nsfw"


class ImageBuilder:
    """Images from a prompt: the imagine WebSocket (`image`), with the chat-based path
    (`image_chat`: "Drawing: <prompt>" in the `fast` mode, one call per image) as its
    `fallback` in the same try when the socket cannot serve it; the lite model always takes
    the chat-based path. NSFW is asked for when `features.enable_nsfw` is on, the client's key
    allows it (`flow.nsfw_allowed`) and the account went through the NSFW sequence (its `nsfw`
    tag); R-rated results are only kept then."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = flow.request.prompt.strip()
        if not flow.prompt:
            raise validation("prompt must not be empty", "prompt")

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        req, token = flow.request, flow.lease.token
        model = flow.model.id if flow.model is not None else req.model
        chat_headers = build_headers(cfg, token, origin=ORIGIN, referer=ORIGIN + "/",
                                     fresh_statsig=flow.statsig_renewed)
        chat = UpstreamRequest("POST", cfg.base_url + CHAT_PATH, chat_headers,
                               build_chat_payload(cfg, DRAWING + flow.prompt, "fast",
                                                  overrides={"imageGenerationCount": 2}),
                               kind="image_chat", count=req.n)
        if model == LITE_IMAGE_MODEL:
            return chat
        headers = build_headers(cfg, token, origin=ORIGIN, referer=ORIGIN + "/imagine",
                                fresh_statsig=flow.statsig_renewed)
        nsfw = cfg.enable_nsfw and flow.nsfw_allowed and NSFW_TAG in flow.lease.account.tags
        params = {"prompt": flow.prompt, "aspect_ratio": IMAGE_SIZES.get(req.size, DEFAULT_RATIO),
                  "enable_nsfw": nsfw, "enable_pro": model == PRO_IMAGE_MODEL}
        return UpstreamRequest("GET", cfg.base_url + IMAGINE_PATH, headers, params,
                               kind="image", count=req.n, fallback=chat)


class ImageEditBuilder:
    """The edit's chat call (`addons/upstream/image_edit.py`), from what the image-edit addon
    prepared on the try's account (`attempt.edit`: uploads, media post, prompt)."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = flow.request.prompt
        if not flow.prompt.strip():
            raise validation("prompt must not be empty", "prompt")

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        inputs = flow.attempt.edit
        if inputs is None:  # the addon runs before the builder on every try with a lease
            raise RuntimeError("image edit: no inputs prepared for this try")
        return build_edit_call(cfg, flow.lease.token, inputs, flow.request.n,
                               fresh_statsig=flow.statsig_renewed)


#: kind of job → its builder (`console`: a chat job on a console model)
BUILDERS: dict[str, Builder] = {"chat": ChatBuilder(), "image": ImageBuilder(),
                                "image_edit": ImageEditBuilder(), "video": VideoBuilder(),
                                "console": ConsoleChatBuilder(), "speech": SpeechBuilder(),
                                "transcription": TranscriptionBuilder(),
                                "voice_token": VoiceTokenBuilder()}


class UpstreamRequestBuilder:
    def __init__(self, settings: Any, builders: dict[str, Builder] | None = None) -> None:
        self.settings = settings
        self.builders = BUILDERS if builders is None else builders
        self._cfg: tuple[int, UpstreamConfig] | None = None

    def config(self) -> UpstreamConfig:
        """The upstream config, rebuilt only when the settings changed (not per attempt)."""
        generation = getattr(self.settings, "generation", None)
        cached = self._cfg
        if cached is None or generation is None or cached[0] != generation:
            cached = self._cfg = (generation, UpstreamConfig.from_settings(self.settings))
        return cached[1]

    def _builder(self, flow: Flow) -> Builder:
        kind = flow.request.kind
        if kind == "chat" and flow.model is not None and flow.model.console:
            kind = "console"
        return self.builders[kind]

    def request(self, flow: Flow) -> None:
        self._builder(flow).prepare(flow)

    def attempt(self, flow: Flow) -> None:
        if flow.attempt.failure is None:
            flow.attempt.request = self._builder(flow).build(flow, self.config())
