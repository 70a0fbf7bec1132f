"""Voice end to end (console-and-voice §5): TTS and STT through the console with the official
openai client, the LiveKit voice token on grok.com, and their bad inputs."""
from __future__ import annotations

import io

import openai
import pytest

from ops.simulator.console import AUDIO, STT_PATH, TRANSCRIPT, TTS_PATH
from tests.integration.test_console import console_account

pytestmark = pytest.mark.asyncio


async def test_speech_returns_audio_with_its_type(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    r = await client.audio.speech.create(model="tts-1", voice="echo", input="Hello there")
    assert r.response.headers["content-type"] == "audio/mpeg"
    assert r.content == AUDIO
    body = stack.sim.state.requests_to(TTS_PATH)[-1].json
    assert body == {"text": "Hello there", "language": "en", "voice_id": "eve",
                    "output_format": {"codec": "mp3"}}
    r = await client.audio.speech.create(model="grok-voice-latest", voice="nova",
                                         input="Hi", response_format="wav", speed=1.5)
    assert r.response.headers["content-type"] == "audio/wav"
    body = stack.sim.state.requests_to(TTS_PATH)[-1].json
    assert body["voice_id"] == "leo" and body["speed"] == 1.5
    assert body["output_format"] == {"codec": "wav"}


async def test_speech_bad_input_names_the_field(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    for kwargs, param in (({"voice": "nobody"}, "voice"), ({"voice": "ara", "speed": 9.0}, "speed"),
                          ({"voice": "ara", "response_format": "mp5"}, "response_format")):
        with pytest.raises(openai.BadRequestError) as err:
            await client.audio.speech.create(model="tts-1", input="x", **kwargs)
        assert err.value.status_code == 400
        assert err.value.body["param"] == param
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.speech.create(model="grok-4.20-auto", voice="ara", input="x")
    assert err.value.body["param"] == "model"
    assert stack.sim.state.requests_to(TTS_PATH) == []


async def test_transcription_returns_text(stack):
    await stack.start_gateway()
    console_account(stack)
    client = stack.openai()
    audio = ("hello.mp3", io.BytesIO(AUDIO), "audio/mpeg")
    r = await client.audio.transcriptions.create(model="whisper-1", file=audio, language="en")
    assert r.text == TRANSCRIPT
    sent = stack.sim.state.requests_to(STT_PATH)[-1]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert b'name="model"\r\n\r\ngrok-stt' in sent.body and AUDIO in sent.body
    verbose = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("a.mp3", io.BytesIO(AUDIO), "audio/mpeg"),
        response_format="verbose_json")
    assert verbose.text == TRANSCRIPT and verbose.duration == 1.84
    assert verbose.words[0].word == "Hello"
    text = await client.audio.transcriptions.create(
        model="grok-stt", file=("a.mp3", io.BytesIO(AUDIO), "audio/mpeg"), response_format="text")
    assert text.strip() == TRANSCRIPT


async def test_transcription_without_file_is_400(stack):
    await stack.start_gateway()
    console_account(stack)
    async with stack.http() as http:
        async with http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}) as resp:
            assert resp.status == 400
            body = await resp.json()
    assert body["error"]["param"] == "file"
    assert stack.sim.state.requests_to(STT_PATH) == []


async def test_voice_token_from_a_super_account(stack):
    await stack.start_gateway()
    stack.add_account("tok-basic", "basic")
    async with stack.http() as http:
        async with http.post("/v1/voice/token", json={}) as resp:
            assert resp.status == 429  # no super or heavy account
        stack.add_account("tok-super", "super")
        async with http.post("/v1/voice/token", json={"voice": "eve", "speed": 1.25}) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.post("/v1/voice/token", json={"voice": "nobody"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["param"] == "voice"
    assert body["token"].startswith("lk.") and body["url"] == "wss://livekit.grok.com"
    assert body["participant_name"] and body["room_name"]
    sent = stack.sim.state.requests_to("/rest/livekit/tokens")[-1]
    assert sent.token == "tok-super"
    assert '"voice":"eve"' in sent.json["sessionPayload"]
