"""Image, audio and file parts in the three request parsers: accepted shapes, URL or data URI
only, errors naming the part."""
from __future__ import annotations

import base64

import pytest

from addons.errors import ApiError
from addons.flow import Attachment
from quart_app.dialects.anthropic_request import parse_messages_request
from quart_app.dialects.openai_chat_request import parse_chat_request
from quart_app.dialects.responses_request import parse_responses_request
from state.options import FixedSettings

PNG_URI = "data:image/png;base64,iVBORw0KGgo="
PDF_URI = "data:application/pdf;base64,JVBERi0="
URL = "https://example.org/a.png"


def Settings():  # noqa: N802 - used like the class it stood for
    return FixedSettings({"features.stream": False, "features.thinking": False})


def chat(*parts, text="look"):
    content = ([{"type": "text", "text": text}] if text else []) + list(parts)
    return parse_chat_request({"model": "m", "messages": [{"role": "user", "content": content}]},
                              Settings())


def responses(*parts):
    return parse_responses_request({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "look"}, *parts]}]}, Settings())


def anthropic(*blocks):
    return parse_messages_request({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"}, *blocks]}]}, Settings())


def error(fn, *parts) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*parts)
    assert info.value.status == 400
    return info.value


# ---- OpenAI chat --------------------------------------------------------------------

@pytest.mark.parametrize("part,expected", [
    ({"type": "image_url", "image_url": {"url": URL, "detail": "high"}}, Attachment("image", URL)),
    ({"type": "image_url", "image_url": {"url": PNG_URI}}, Attachment("image", PNG_URI)),
    ({"type": "image_url", "image_url": URL}, Attachment("image", URL)),
    ({"type": "file", "file": {"file_data": PDF_URI, "filename": "r.pdf"}},
     Attachment("file", PDF_URI, "r.pdf")),
    ({"type": "file", "file": {"data": PDF_URI}}, Attachment("file", PDF_URI)),
    ({"type": "input_audio", "input_audio": {"data": "data:audio/wav;base64,UklGRg=="}},
     Attachment("audio", "data:audio/wav;base64,UklGRg==")),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
     Attachment("audio", "data:audio/wav;base64,UklGRg==", "audio.wav")),
])
def test_chat_media_parts_become_attachments(part, expected):
    (msg,) = chat(part).messages
    assert msg.parts == ["look"] and msg.attachments == [expected]


def test_chat_message_with_only_an_image_is_kept_beside_text_elsewhere():
    req = parse_chat_request({"model": "m", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": URL}}]},
        {"role": "user", "content": "what is in the picture?"}]}, Settings())
    assert req.messages[0].parts == [] and req.messages[0].attachments == [Attachment("image", URL)]


@pytest.mark.parametrize("part,param,code", [
    ({"type": "image_url", "image_url": {"url": "iVBORw0KGgo="}},
     "messages.0.content.1.image_url.url", "invalid_value"),
    ({"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
     "messages.0.content.1.image_url.url", "invalid_value"),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,"}},
     "messages.0.content.1.image_url.url", "invalid_value"),
    ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
     "messages.0.content.1.image_url.url", "invalid_value"),
    ({"type": "image_url", "image_url": {}}, "messages.0.content.1.image_url.url", "invalid_value"),
    ({"type": "image_url", "image_url": 5}, "messages.0.content.1.image_url", "invalid_value"),
    ({"type": "file", "file": {"file_id": "file-abc"}}, "messages.0.content.1.file.file_id",
     "unsupported_content"),
    ({"type": "file", "file": {"file_data": "JVBERi0="}}, "messages.0.content.1.file.file_data",
     "invalid_value"),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg=="}},
     "messages.0.content.1.input_audio.data", "invalid_value"),
])
def test_chat_bad_media_parts_name_the_part(part, param, code):
    err = error(chat, part)
    assert (err.param, err.code, err.type) == (param, code, "validation_error")
    if param.endswith(".url"):
        assert "URL or data URI" in err.message or "data URI" in err.message


# ---- Responses ----------------------------------------------------------------------

@pytest.mark.parametrize("part,expected", [
    ({"type": "input_image", "image_url": URL, "detail": "auto"}, Attachment("image", URL)),
    ({"type": "input_image", "image_url": {"url": PNG_URI}}, Attachment("image", PNG_URI)),
    ({"type": "image", "image_url": URL}, Attachment("image", URL)),
    ({"type": "image", "source": {"url": URL}}, Attachment("image", URL)),
    ({"type": "input_file", "file_data": PDF_URI, "filename": "r.pdf"},
     Attachment("file", PDF_URI, "r.pdf")),
    ({"type": "input_file", "file_url": "https://example.org/r.pdf"},
     Attachment("file", "https://example.org/r.pdf")),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
     Attachment("audio", "data:audio/mpeg;base64,UklGRg==", "audio.mp3")),
])
def test_responses_media_parts_become_attachments(part, expected):
    (msg,) = responses(part).chat.messages
    assert msg.parts == ["look"] and msg.attachments == [expected]


@pytest.mark.parametrize("part,param", [
    ({"type": "input_image", "image_url": "iVBORw0KGgo="}, "input.0.content.1.image_url"),
    ({"type": "input_image", "file_id": "file-1"}, "input.0.content.1.file_id"),
    ({"type": "input_image"}, "input.0.content.1.image_url"),
    ({"type": "input_file", "file_id": "file-1"}, "input.0.content.1.file_id"),
    ({"type": "input_file", "file_data": "JVBERi0="}, "input.0.content.1.file_data"),
    ({"type": "input_file"}, "input.0.content.1.file_data"),
])
def test_responses_bad_media_parts_name_the_part(part, param):
    assert error(responses, part).param == param


# ---- Anthropic ----------------------------------------------------------------------

@pytest.mark.parametrize("block,expected", [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
     Attachment("image", PNG_URI)),
    ({"type": "image", "source": {"type": "url", "url": URL}}, Attachment("image", URL)),
    ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                     "data": "JVBERi0="}}, Attachment("file", PDF_URI)),
    ({"type": "document", "source": {"type": "base64", "data": "JVBERi0="}}, Attachment("file", PDF_URI)),
    ({"type": "document", "source": {"type": "url", "url": "https://example.org/r.pdf"}},
     Attachment("file", "https://example.org/r.pdf")),
    ({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
     Attachment("file", "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
                "document.txt")),
])
def test_anthropic_media_blocks_become_attachments(block, expected):
    (msg,) = anthropic(block).messages
    assert msg.parts == ["look"] and msg.attachments == [expected]


def test_anthropic_image_only_message_and_tool_result_images_are_kept():
    image = {"type": "image", "source": {"type": "url", "url": URL}}
    req = parse_messages_request({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [image]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": "done"}, image]}]},
    ]}, Settings())
    first, _, tool = req.messages
    assert first.parts == [] and first.attachments == [Attachment("image", URL)]
    assert tool.role == "tool" and tool.parts == ["done"] and tool.attachments == [Attachment("image", URL)]


@pytest.mark.parametrize("block,param", [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}},
     "messages.0.content.1.source.data"),
    ({"type": "image", "source": {"type": "url", "url": "iVBORw0KGgo="}}, "messages.0.content.1.source.url"),
    ({"type": "image"}, "messages.0.content.1.source"),
    ({"type": "image", "source": {"type": "file", "file_id": "f"}}, "messages.0.content.1.source.file_id"),
    ({"type": "document", "source": {"type": "content", "content": []}}, "messages.0.content.1.source.type"),
])
def test_anthropic_bad_media_blocks_name_the_part(block, param):
    assert error(anthropic, block).param == param
