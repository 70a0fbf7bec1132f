"""The neutral requests a dialect parser produces: one small family, one class per kind of
upstream job, all sharing the part every job has (the model, whether the client streams).

`kind` tells the chain which request builder and which transport serve the job. Chat is
served end to end; the media kinds are the shapes their endpoints parse into, and a flow of
a kind with no mounted transport ends with a clear 501 (`addons.upstream.router`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(slots=True)
class Attachment:
    """A file the client sent (image, audio, document): a data URI or a URL, uploaded per account."""

    kind: str  # image | audio | file
    url: str
    name: str | None = None


@dataclass(slots=True)
class Message:
    """One neutral chat message. `parts` are its text blocks in order."""

    role: str  # system | developer | user | assistant | tool
    parts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass(slots=True)
class ToolSpec:
    """A client-declared function the model may call (never executed by the gateway)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class JobRequest:
    """What every job has. `options` keeps request fields a dialect accepts and passes on
    without the chain needing them (e.g. a client's `user` or `metadata`)."""

    kind: ClassVar[str] = "job"

    model: str
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    #: a chat client's view of the answer: show reasoning (a media job's progress), add the
    #: usage chunk to a stream
    reasoning: bool = True
    include_usage: bool = False


@dataclass(slots=True, kw_only=True)
class ChatRequest(JobRequest):
    """A conversation turn.

    `messages[*].tool_calls` hold earlier calls as {"id", "name", "arguments" (JSON text)};
    a `tool` message answers one by `tool_call_id`. `tool_choice` is auto | none | required,
    and `forced_tool` names the one function a client forces.

    `store` keeps the upstream conversation (not temporary) so that a later request can
    continue it by `previous_response_id` (the Responses API; other dialects never store)."""

    kind: ClassVar[str] = "chat"

    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    store: bool = False
    previous_response_id: str | None = None
    #: stop sequences: the answer ends right before the first match (addons/stop_sequences.py)
    stop: list[str] = field(default_factory=list)
    #: the reasoning effort the client asked for (none … xhigh, max); only the console
    #: models forward it (grok.com's web chat has no such knob)
    effort: str | None = None


@dataclass(slots=True, kw_only=True)
class ImageRequest(JobRequest):
    """Images drawn from a prompt (`/v1/images/generations`)."""

    kind: ClassVar[str] = "image"

    prompt: str
    n: int = 1
    size: str = "1024x1024"
    response_format: str = "url"  # url | b64_json


@dataclass(slots=True, kw_only=True)
class ImageEditRequest(ImageRequest):
    """Images redrawn from the client's images and a prompt (`/v1/images/edits`)."""

    kind: ClassVar[str] = "image_edit"

    images: list[Attachment] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class VideoRequest(JobRequest):
    """A video from a prompt and optional reference images (`/v1/videos`)."""

    kind: ClassVar[str] = "video"

    prompt: str
    seconds: int = 6
    size: str = "720x1280"
    resolution: str = "720p"
    preset: str = "custom"
    references: list[Attachment] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class SpeechRequest(JobRequest):
    """Text to speech on the console (`/v1/audio/speech`, C4). `body` is the C4 body, already
    checked and mapped by the route (voice names, format, speed)."""

    kind: ClassVar[str] = "speech"

    body: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class TranscriptionRequest(JobRequest):
    """Speech to text on the console (`/v1/audio/transcriptions`, C7): the form fields sent
    on, and the audio file."""

    kind: ClassVar[str] = "transcription"

    fields: list[tuple[str, str]] = field(default_factory=list)
    audio: bytes = b""
    filename: str = "audio.bin"
    audio_type: str = "application/octet-stream"


@dataclass(slots=True, kw_only=True)
class VoiceTokenRequest(JobRequest):
    """A LiveKit token for a grok.com voice session (`/v1/voice/token`, WEB §12)."""

    kind: ClassVar[str] = "voice_token"

    voice: str = "ara"
    personality: str = "assistant"
    speed: float = 1.0
    instruction: str = ""
