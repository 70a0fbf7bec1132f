"""The request builders of the console's jobs (console-and-voice §2.2, §3, §5) and of the
grok.com LiveKit token (WEB §12).

`BUILDERS["console"]` serves a chat job whose model is a console model (the upstream request
builder picks it by `ModelSpec.console`), `speech` and `transcription` the audio jobs; they
write the console's browser headers and the account's cookie, and the console transport adds
the DPoP token and proof per send.
"""
from __future__ import annotations

import uuid
from typing import Any

import orjson

from addons.errors import validation
from addons.flow import Flow
from addons.upstream.config import UpstreamConfig
from addons.upstream.console_models import MODELS
from addons.upstream.console_payload import responses_body
from addons.upstream.headers import ACCEPT_ENCODING, ACCEPT_LANGUAGE, build_headers, client_hints, cookie_header
from addons.upstream.prompt import flatten
from addons.upstream.wire import UpstreamRequest

CONSOLE_ORIGIN = "https://console.x.ai"
GROK_ORIGIN = "https://grok.com"
LIVEKIT_PATH = "/rest/livekit/tokens"
LIVEKIT_URL = "wss://livekit.grok.com"


def console_headers(cfg: UpstreamConfig, token: str, accept: str = "*/*",
                    content_type: str | None = "application/json") -> dict[str, str]:
    """§2.2: the browser headers of every console call (no statsig, request id or baggage)."""
    headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING,
               "Accept-Language": ACCEPT_LANGUAGE, "Cache-Control": "no-cache",
               "Pragma": "no-cache", "Cookie": cookie_header(cfg, token),
               "Origin": CONSOLE_ORIGIN, "Referer": CONSOLE_ORIGIN + "/",
               "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors",
               "Sec-Fetch-Site": "same-origin", "Priority": "u=1, i",
               "User-Agent": cfg.user_agent}
    headers.update((k, v) for k, v in client_hints(cfg.user_agent, cfg.browser) if v)
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def console_url(cfg: UpstreamConfig, path: str) -> str:
    """`<console>/v1/<path>`; a base that already ends in /v1 is not doubled (§1)."""
    base = cfg.console_url[:-3] if cfg.console_url.endswith("/v1") else cfg.console_url
    return f"{base}/v1{path}"


class ConsoleChatBuilder:
    """A chat job on a console model: one `POST /v1/responses` (C2)."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = flatten(flow.request.messages)  # the usage estimate and the audit
        if not flow.request.messages:
            raise validation("messages must not be empty", "messages")

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        spec = flow.model
        body = responses_body(flow.request, MODELS[spec.upstream], spec.effort)
        return UpstreamRequest("POST", console_url(cfg, "/responses"),
                               console_headers(cfg, flow.lease.token), body, kind="console")


class SpeechBuilder:
    """Text to speech (C4): the body the route checked and mapped."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = flow.request.body.get("text", "")

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        return UpstreamRequest("POST", console_url(cfg, "/tts"),
                               console_headers(cfg, flow.lease.token), flow.request.body,
                               kind="speech")


def multipart(fields: list[tuple[str, str]], file: tuple[str, str, bytes] | None) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = "----grok2api" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    if file is not None:
        filename, ctype, data = file
        safe = filename.replace('"', "").replace("\r", "").replace("\n", "") or "audio.bin"
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{safe}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class TranscriptionBuilder:
    """Speech to text (C7): always multipart, the file part named `file`."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = ""

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        job = flow.request
        file = (job.filename, job.audio_type, job.audio) if job.audio else None
        body, ctype = multipart(job.fields, file)
        headers = console_headers(cfg, flow.lease.token, accept="application/json",
                                  content_type=ctype)
        return UpstreamRequest("POST", console_url(cfg, "/stt"), headers, body=body,
                               kind="transcription")


class VoiceTokenBuilder:
    """`POST /rest/livekit/tokens` on grok.com (WEB §12): `sessionPayload` is a JSON string."""

    def prepare(self, flow: Flow) -> None:
        flow.prompt = ""

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        job = flow.request
        session: dict[str, Any] = {"voice": job.voice, "personality": job.personality,
                                   "playback_speed": job.speed, "enable_vision": False,
                                   "turn_detection": {"type": "server_vad"}}
        if job.instruction:
            session.update(personality=None, instructions=job.instruction,
                           is_raw_instructions=True)
        payload = {"sessionPayload": orjson.dumps(session).decode(),
                   "requestAgentDispatch": False, "livekitUrl": LIVEKIT_URL,
                   "params": {"enable_markdown_transcript": "true"}}
        headers = build_headers(cfg, flow.lease.token, origin=GROK_ORIGIN,
                                referer=GROK_ORIGIN + "/", fresh_statsig=flow.statsig_renewed)
        return UpstreamRequest("POST", cfg.base_url + LIVEKIT_PATH, headers, payload,
                               kind="voice_token")
