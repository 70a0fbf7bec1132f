"""The voice routes: `POST /v1/audio/speech` (text to speech, console C4),
`POST /v1/audio/transcriptions` (speech to text, console C7, multipart) and
`POST /v1/voice/token` (a grok.com LiveKit token from a super or heavy account).

Each runs one job through the pipeline like any other (auth, key policy, account lease,
retry, usage), after the API key was checked: the body is judged in the parse step, every
refusal a 400 naming its field (`quart_app/dialects/audio_model.py`).
"""
from __future__ import annotations

from typing import Any

import orjson
from quart import Blueprint, Response, current_app, request

from addons.errors import ApiError, validation
from addons.events import MediaResult, Restart
from addons.jobs import SpeechRequest, TranscriptionRequest, VoiceTokenRequest
from quart_app.content_type import require_json
from quart_app.dialects.audio_model import (
    SPEECH_MODEL, STT_MODEL, VoiceTokenBody, resolve_model, speech_body,
)
from quart_app.dialects.schema import decode
from quart_app.routes_image_edits import EditForm
from quart_app.routes_v1 import json_response, new_flow

bp = Blueprint("audio", __name__, url_prefix="/v1")

#: the hidden catalogue entry of the LiveKit token (super and heavy pools, mode auto)
LIVEKIT_MODEL = "grok-voice-livekit"
MAX_AUDIO_BYTES = 25 << 20
#: OpenAI's transcription answers
TRANSCRIPT_FORMATS = ("json", "verbose_json", "text")
_TRUE = ("1", "true", "yes", "on")
#: C7 text fields sent on when set (§5.4)
_STT_TEXT = ("audio_format", "language", "url")


async def _result(flow: Any) -> MediaResult:
    """The one result of a voice job; always closes the pipeline."""
    svc = current_app.extensions["grok2api"]
    found: MediaResult | None = None
    try:
        async for batch in svc.pipeline.events(flow):
            for ev in batch:
                if type(ev) is MediaResult:
                    found = ev
                elif type(ev) is Restart:
                    found = None
    finally:
        await svc.pipeline.close(flow)
    if found is None or found.blob is None:
        raise ApiError(502, "The upstream answered without a result", type="upstream_error",
                       code="empty_response")
    return found


@bp.post("/audio/speech")
async def audio_speech() -> Response:
    svc = current_app.extensions["grok2api"]
    raw = await request.get_data()
    headers = request.headers
    flow = new_flow(svc, headers, dialect="openai.audio")

    def parse() -> SpeechRequest:
        require_json(headers)
        body, c4 = speech_body(raw)
        model = resolve_model(svc.catalogue, body.model, "speech")
        return SpeechRequest(model=model, body=c4)

    await svc.pipeline.open(flow, parse)
    result = await _result(flow)
    return Response(result.blob, status=200,
                    content_type=result.content_type or "audio/mpeg")


def _stt_fields(form: EditForm, model: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for name in _STT_TEXT:
        value = (form.text(name) or "").strip()
        if value:
            fields.append((name, value))
    rate = (form.text("sample_rate") or form.text("sample_rate_hertz") or "").strip()
    if rate:
        if not rate.isdigit() or int(rate) <= 0:
            raise validation("sample_rate must be a positive integer", "sample_rate")
        fields.append(("sample_rate", rate))
    for flag in ("format", "multichannel", "diarize", "filler_words"):
        if (form.text(flag) or "").strip().lower() in _TRUE:
            fields.append((flag, "true"))
    channels = (form.text("channels") or "").strip()
    if channels:
        if not channels.isdigit() or int(channels) <= 0:
            raise validation("channels must be a positive integer", "channels")
        fields.append(("channels", channels))
    for term in form.form.getlist("keyterm"):
        if term.strip():
            fields.append(("keyterm", term.strip()))
    vad = (form.text("vad_threshold") or "").strip()
    if vad:
        try:
            fields.append(("vad_threshold", str(float(vad))))
        except ValueError:
            raise validation("vad_threshold must be a number", "vad_threshold") from None
    fields.append(("model", model))
    return fields


def _transcription(form: EditForm, svc: Any) -> TranscriptionRequest:
    if form.error is not None:
        raise form.error
    model = resolve_model(svc.catalogue, (form.text("model") or STT_MODEL).strip(),
                          "transcription")
    fmt = (form.text("response_format") or "json").strip()
    if fmt not in TRANSCRIPT_FORMATS:
        raise validation(f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}",
                         "response_format", code="invalid_parameter")
    if (form.text("prompt") or "").strip():
        raise validation("prompt is not supported by grok-stt", "prompt",
                         code="unsupported_parameter")
    if form.text("timestamp_granularities") or form.form.getlist("timestamp_granularities[]"):
        raise validation("timestamp_granularities is not supported", "timestamp_granularities",
                         code="unsupported_parameter")
    temperature = (form.text("temperature") or "").strip()
    if temperature:
        try:
            nonzero = float(temperature) != 0
        except ValueError:
            raise validation("temperature must be a number", "temperature") from None
        if nonzero:
            raise validation("temperature is not supported", "temperature",
                             code="unsupported_parameter")
    file = form.files.get("file")
    url = (form.text("url") or "").strip()
    if (file is None) == (not url):
        raise validation("Send exactly one of file (the audio) or url", "file",
                         code="invalid_request")
    audio, name, ctype = b"", "audio.bin", "application/octet-stream"
    if file is not None:
        audio = file.read(MAX_AUDIO_BYTES + 1)
        if not audio:
            raise validation("file is empty", "file", code="invalid_request")
        if len(audio) > MAX_AUDIO_BYTES:
            raise validation(f"file is larger than {MAX_AUDIO_BYTES >> 20} MiB", "file",
                             code="request_too_large")
        name = file.filename or name
        ctype = file.mimetype or ctype
    job = TranscriptionRequest(model=model, fields=_stt_fields(form, "grok-stt"), audio=audio,
                               filename=name, audio_type=ctype)
    job.options["response_format"] = fmt
    return job


@bp.post("/audio/transcriptions")
async def audio_transcriptions() -> Response:
    svc = current_app.extensions["grok2api"]
    form = await EditForm.read()
    flow = new_flow(svc, request.headers, dialect="openai.audio")
    await svc.pipeline.open(flow, lambda: _transcription(form, svc))
    fmt = flow.request.options["response_format"]
    result = await _result(flow)
    try:
        data = orjson.loads(result.blob)
    except orjson.JSONDecodeError:
        raise ApiError(502, "The upstream transcription was not JSON", type="upstream_error",
                       code="upstream_error") from None
    text = str(data.get("text") or "") if isinstance(data, dict) else ""
    if fmt == "text":
        return Response(text, status=200, content_type="text/plain; charset=utf-8")
    if fmt == "json":
        return json_response({"text": text})
    words = []
    for w in (data.get("words") or []) if isinstance(data, dict) else []:
        if isinstance(w, dict):
            item = {"word": w.get("text", ""), "start": w.get("start"), "end": w.get("end")}
            if "speaker" in w:
                item["speaker"] = w["speaker"]
            words.append(item)
    return json_response({"task": "transcribe", "text": text, "language": data.get("language"),
                          "duration": data.get("duration"), "words": words})


@bp.post("/voice/token")
async def voice_token() -> Response:
    return await voice_token_answer(current_app.extensions["grok2api"], request.headers,
                                    await request.get_data())


async def voice_token_answer(svc: Any, headers: Any, raw: bytes, *,
                             client: Any = None, dialect: str = "openai.audio") -> Response:
    """`client`: who the caller is when its route authenticated it (the web chat)."""
    flow = new_flow(svc, headers, client=client, dialect=dialect)

    def parse() -> VoiceTokenRequest:
        body = VoiceTokenBody()
        if raw.strip():
            require_json(headers)
            body = decode(raw, VoiceTokenBody)
        return VoiceTokenRequest(model=LIVEKIT_MODEL, voice=body.voice,
                                 personality=body.personality, speed=body.speed,
                                 instruction=body.instruction.strip())

    await svc.pipeline.open(flow, parse)
    result = await _result(flow)
    return Response(result.blob, status=200, content_type="application/json")


__all__ = ["bp", "SPEECH_MODEL", "voice_token_answer"]
