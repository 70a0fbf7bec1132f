"""The OpenAI audio surfaces the console provides (console-and-voice §5.2, §5.4) and the voice
token (§5.1): typed bodies, and their checks and mappings into the neutral jobs.

Every refusal is a 400 in OpenAI's error shape naming its field: an unknown voice (OpenAI's
names map to the console's as the spec says, the console's own names pass), a speed outside
0.25–4, an unknown format, a missing or empty audio file.
"""
from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from addons.errors import ApiError, validation
from quart_app.dialects.schema import Text, decode, integer, number

#: OpenAI's voice names → the console's (§5.2)
OPENAI_VOICES = {"alloy": "ara", "verse": "ara", "echo": "eve", "ballad": "eve", "fable": "sal",
                 "coral": "sal", "onyx": "rex", "ash": "rex", "nova": "leo", "sage": "leo",
                 "shimmer": "sia", "marin": "sia"}
#: the console's voices (C5 lists them)
CONSOLE_VOICES = frozenset({"ara", "eve", "leo", "rex", "sal", "sia"})
#: `response_format` → codec
FORMATS = {"mp3": "mp3", "opus": "opus", "ogg": "opus", "aac": "aac", "flac": "flac",
           "wav": "wav", "wave": "wav", "pcm": "pcm", "pcm16": "pcm"}
MAX_TEXT = 15000
SPEECH_MODEL = "grok-voice-latest"
STT_MODEL = "grok-stt"
#: the voice token's choices (§5.1)
LIVEKIT_VOICES = ("ara", "eve", "leo", "rex", "sal", "gork")
PERSONALITIES = ("assistant", "custom", "therapist", "storyteller", "kids_story_time",
                 "meditation", "unhinged", "sexy")


class OutputFormat(Struct):
    codec: str | None = None
    sample_rate: integer(1) | None = None
    bit_rate: integer(1) | None = None


class SpeechBody(Struct):
    input: str
    model: Text = SPEECH_MODEL
    voice: str | None = None
    voice_id: str | None = None
    response_format: str | None = None
    output_format: OutputFormat | None = None
    speed: number(0.25, 4.0) | None = None
    language: str | None = None
    optimize_streaming_latency: integer(0, 4) | None = None
    text_normalization: bool | None = None
    with_timestamps: bool | None = None
    instructions: str | None = None  # accepted, not forwarded (the console has no such field)


class VoiceTokenBody(Struct):
    voice: Literal["ara", "eve", "leo", "rex", "sal", "gork"] = "ara"
    personality: Literal["assistant", "custom", "therapist", "storyteller", "kids_story_time",
                         "meditation", "unhinged", "sexy"] = "assistant"
    speed: number(0.5, 2.0) = 1.0
    instruction: str = ""


def _voice(name: str | None, param: str) -> str | None:
    if name is None or not name.strip():
        return None
    key = name.strip().lower()
    voice = OPENAI_VOICES.get(key, key)
    if voice not in CONSOLE_VOICES:
        raise validation(f"Unknown voice {name[:40]!r}: use one of "
                         f"{', '.join(sorted(CONSOLE_VOICES | set(OPENAI_VOICES)))}", param,
                         code="invalid_parameter")
    return voice


def speech_body(raw: bytes) -> tuple[SpeechBody, dict[str, Any]]:
    """The decoded body and the C4 body it becomes."""
    body = decode(raw, SpeechBody)
    text = body.input.strip()
    if not text:
        raise validation("input must not be empty", "input", code="invalid_request")
    if len(text) > MAX_TEXT:
        raise validation(f"input is longer than {MAX_TEXT} characters", "input",
                         code="request_too_large")
    out: dict[str, Any] = {"text": text, "language": (body.language or "en").strip() or "en"}
    voice = _voice(body.voice_id, "voice_id") if body.voice_id else _voice(body.voice, "voice")
    if voice:
        out["voice_id"] = voice
    fmt: dict[str, Any] = {}
    if body.output_format is not None:
        of = body.output_format
        if of.codec is not None:
            codec = FORMATS.get(of.codec.lower())
            if codec is None:
                raise validation(f"Unknown codec {of.codec[:20]!r}", "output_format.codec",
                                 code="invalid_parameter")
            fmt["codec"] = codec
        if of.sample_rate is not None:
            fmt["sample_rate"] = of.sample_rate
        if of.bit_rate is not None:
            fmt["bit_rate"] = of.bit_rate
        if fmt and "codec" not in fmt:
            fmt["codec"] = "mp3"
    else:
        name = (body.response_format or "mp3").lower()
        codec = FORMATS.get(name)
        if codec is None:
            raise validation(f"Unknown response_format {body.response_format[:20]!r}: use "
                             f"{', '.join(FORMATS)}", "response_format", code="invalid_parameter")
        fmt["codec"] = codec
    if fmt:
        out["output_format"] = fmt
    if body.speed is not None:
        out["speed"] = body.speed
    if body.optimize_streaming_latency:
        out["optimize_streaming_latency"] = str(body.optimize_streaming_latency)
    if body.text_normalization:
        out["text_normalization"] = True
    if body.with_timestamps:
        out["with_timestamps"] = True
    return body, out


def resolve_model(catalogue: Any, name: str, capability: str) -> str:
    spec = catalogue.resolve(name)
    if spec is None or spec.capability != capability:
        default = SPEECH_MODEL if capability == "speech" else STT_MODEL
        raise ApiError(400, f"Model '{name[:80]}' does not serve this endpoint; use {default}",
                       type="invalid_request_error",
                       code="model_not_found" if spec is None else "model_not_supported",
                       param="model")
    return spec.id
