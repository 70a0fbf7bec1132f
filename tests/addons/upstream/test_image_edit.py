"""The image edit's wire side: placeholders, both payload generations, the media post, and the
transport that repeats a short edit once and merges the answers."""
from __future__ import annotations

import pytest

from addons.events import (
    End, FinalMessage, MediaModerated, MediaProgress, MediaResult, ResponseMeta, TextDelta,
    UpstreamFailure,
)
from addons.upstream.base import Timeouts, TransportError
from addons.upstream.classify import UpstreamHTTPError
from addons.upstream.config import UpstreamConfig
from addons.upstream.image_edit import (
    EditInputs, build_edit_call, content_url, create_media_post, replace_placeholders,
)
from addons.upstream.image_edit_transport import ImageEditTransport
from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.upload import UploadedFile

CFG = UpstreamConfig(base_url="https://grok.example", assets_url="https://assets.example")


def test_placeholders_become_upload_ids_and_unknown_numbers_stay():
    ids = ["id-a", "id-b"]
    assert replace_placeholders("@IMAGE1 wears the hat of @image2", ids) \
        == "@id-a wears the hat of @id-b"
    assert replace_placeholders("@IMAGE3 and @IMAGE0 and @IMAGE12", ids) \
        == "@IMAGE3 and @IMAGE0 and @IMAGE12"
    assert replace_placeholders("mail me@IMAGE1x", ids) == "mail me@IMAGE1x"


def test_content_url_prefers_the_file_uri():
    assert content_url(CFG, UploadedFile("f1", "users/u/f1/content")) \
        == "https://assets.example/users/u/f1/content"
    assert content_url(CFG, UploadedFile("f1", None)) == "https://assets.example/f1/content"


def test_model_config_payload_names_references_and_parent_post():
    inputs = EditInputs("model_config", "make it purple", ["f1", "f2"],
                        ["https://assets.example/users/u/f1/content",
                         "https://assets.example/users/u/f2/content"], "post-1")
    call = build_edit_call(CFG, "tok", inputs, 2)
    assert call.kind == "image_edit" and call.wanted == 2
    assert call.url == "https://grok.example/rest/app-chat/conversations/new"
    assert call.headers["Referer"] == "https://grok.com/imagine/post/post-1"
    assert call.headers["Cookie"].startswith("sso=tok; sso-rw=tok")
    payload = call.json
    assert payload["modelName"] == "imagine-image-edit" and payload["message"] == "make it purple"
    assert payload["responseMetadata"] == {"modelConfigOverride": {"modelMap": {
        "imageEditModel": "imagine",
        "imageEditModelConfig": {"imageReferences": inputs.references,
                                 "parentPostId": "post-1"}}}}
    assert payload["imageGenerationCount"] == 2 and payload["temporary"] is True
    assert "mediaGenInput" not in payload and "fileAttachments" not in payload


def test_media_gen_input_payload_names_the_uploads_by_id():
    inputs = EditInputs("media_gen_input", "@f1 in the snow", ["f1"],
                        ["https://assets.example/users/u/f1/content"])
    call = build_edit_call(CFG, "tok", inputs, 1)
    assert call.headers["Referer"] == "https://grok.com/imagine"
    assert call.json["mediaGenInput"] == {"imageToImage": {"prompt": "@f1 in the snow",
                                                           "inputAssets": ["f1"]}}
    assert "responseMetadata" not in call.json and call.json["modelName"] == "imagine-image-edit"


async def test_media_post_gives_its_id_and_the_prompt_grok_kept():
    mock = MockTransport.script(MockResponse.json(
        {"post": {"id": "p-9", "originalPrompt": "a cat, refined", "prompt": "a cat"}}))
    assert await create_media_post(mock, CFG, "tok", "a cat") == ("p-9", "a cat, refined")
    (req,) = mock.requests
    assert req.url == "https://grok.example/rest/media/post/create"
    assert req.json == {"mediaType": "MEDIA_POST_TYPE_IMAGE", "prompt": "a cat"}
    assert req.headers["Referer"] == "https://grok.com/imagine"


async def test_media_post_without_an_id_is_an_upstream_error():
    mock = MockTransport.script(MockResponse.json({"post": {}}))
    with pytest.raises(UpstreamHTTPError) as info:
        await create_media_post(mock, CFG, "tok", "a cat")
    assert info.value.status == 502


# ---- repeat and merge ------------------------------------------------------------------------
def image(index: int, name: str) -> MediaResult:
    return MediaResult("image", index, f"https://assets.example/{name}.jpg")


async def read(transport: ImageEditTransport, wanted: int) -> list:
    call = build_edit_call(CFG, "tok", EditInputs("model_config", "p", ["f"], ["r"], "post"),
                           wanted)
    stream = await transport.open(call, Timeouts())
    return [ev async for batch in stream.events() for ev in batch]


async def test_a_short_edit_is_asked_once_more_and_merged():
    mock = MockTransport.script(
        MockResponse(200, [[MediaProgress("image", 0, 50), MediaProgress("image", 1, 50)],
                           [image(0, "a"), ResponseMeta("r1")], [End()]]),
        MockResponse(200, [[MediaProgress("image", 0, 50)],
                           [image(0, "a"), image(1, "b"), ResponseMeta("r2")], [End()]]))
    events = await read(ImageEditTransport(mock), 2)
    results = [ev for ev in events if type(ev) is MediaResult]
    assert [(r.index, r.url) for r in results] == [(0, "https://assets.example/a.jpg"),
                                                   (1, "https://assets.example/b.jpg")]
    assert len(mock.requests) == 2 and type(events[-1]) is End
    first, second = mock.requests
    assert second.json == first.json
    assert second.headers["x-xai-request-id"] != first.headers["x-xai-request-id"]
    # the first call's ids stand; the repeat's progress follows the slots already filled
    assert [ev.response_id for ev in events if type(ev) is ResponseMeta] == ["r1"]
    assert [ev.index for ev in events if type(ev) is MediaProgress] == [0, 1, 1]


async def test_no_repeat_when_enough_arrived_and_extra_images_are_dropped():
    mock = MockTransport.script(MockResponse(200, [[image(0, "a"), image(1, "b")], [End()]]))
    events = await read(ImageEditTransport(mock), 1)
    assert [ev.url for ev in events if type(ev) is MediaResult] == ["https://assets.example/a.jpg"]
    assert len(mock.requests) == 1


async def test_a_moderated_slot_is_no_reason_to_repeat():
    mock = MockTransport.script(MockResponse(200, [
        [MediaModerated("image", 0), image(1, "b")], [FinalMessage("", ["x"]), End()]]))
    events = await read(ImageEditTransport(mock), 2)
    assert len(mock.requests) == 1
    assert [(ev.index, ev.url) for ev in events if type(ev) is MediaResult] \
        == [(0, "https://assets.example/b.jpg")]
    # told once, at the end, for the slot left empty
    assert [(type(ev), getattr(ev, "index", None)) for ev in events[-2:]] \
        == [(MediaModerated, 1), (End, None)]


async def test_a_moderated_slot_beside_enough_images_is_not_reported():
    mock = MockTransport.script(MockResponse(200, [
        [MediaModerated("image", 0), image(1, "b")], [End()]]))
    events = await read(ImageEditTransport(mock), 1)
    assert not any(type(ev) is MediaModerated for ev in events)


async def test_a_failed_repeat_ends_with_what_the_first_call_gave():
    mock = MockTransport.script(
        MockResponse(200, [[image(0, "a")], [End()]]),
        MockResponse(200, [[TextDelta("x"), UpstreamFailure(500, "boom")]]))
    events = await read(ImageEditTransport(mock), 2)
    assert [ev.url for ev in events if type(ev) is MediaResult] == ["https://assets.example/a.jpg"]
    assert type(events[-1]) is End and not any(type(ev) is UpstreamFailure for ev in events)

    refused = MockTransport.script(MockResponse(200, [[image(0, "a")], [End()]]),
                                   MockResponse(503, body="busy"))
    events = await read(ImageEditTransport(refused), 2)
    assert type(events[-1]) is End and sum(type(ev) is MediaResult for ev in events) == 1

    broken = MockTransport.script(MockResponse(200, [[image(0, "a")], [End()]]),
                                  MockResponse(200, [TransportError("reset")]))
    events = await read(ImageEditTransport(broken), 2)
    assert type(events[-1]) is End and sum(type(ev) is MediaResult for ev in events) == 1


async def test_the_first_calls_failure_or_truncation_is_passed_on_as_it_is():
    failing = MockTransport.script(MockResponse(200, [[image(0, "a"), UpstreamFailure(500, "x")]]))
    events = await read(ImageEditTransport(failing), 2)
    assert type(events[-1]) is UpstreamFailure and len(failing.requests) == 1

    cut = MockTransport.script(MockResponse(200, [[image(0, "a")]]))  # no End
    events = await read(ImageEditTransport(cut), 2)
    assert not any(type(ev) is End for ev in events) and len(cut.requests) == 1

    refused = MockTransport.script(MockResponse(429, body="slow down"))
    call = build_edit_call(CFG, "tok", EditInputs("media_gen_input", "p", ["f"]), 1)
    answer = await ImageEditTransport(refused).open(call, Timeouts())
    assert answer.status == 429 and await answer.error_body() == "slow down"


def test_the_edit_streams_final_message_names_no_moderated_slot():
    """The closing `modelResponse` lists every slot's URL; a withheld one is no answer, so an
    all-moderated edit ends as a content-policy error, not as an empty success."""
    import orjson

    from addons.upstream.frames import FrameParser

    def frame(response: dict) -> bytes:
        return orjson.dumps({"result": {"response": response}}) + b"\n"

    parser = FrameParser("https://assets.example")
    events = parser.feed(b"".join([
        frame({"streamingImageGenerationResponse": {
            "imageIndex": 0, "progress": 100, "imageUrl": "users/u/generated/a/image.jpg",
            "moderated": True}}),
        frame({"streamingImageGenerationResponse": {
            "imageIndex": 1, "progress": 100, "imageUrl": "users/u/generated/b/image.jpg",
            "moderated": False}}),
        frame({"modelResponse": {"generatedImageUrls": ["users/u/generated/a/image.jpg",
                                                        "users/u/generated/b/image.jpg"]}}),
    ]))
    (final,) = [ev for ev in events if type(ev) is FinalMessage]
    assert final.generated_image_urls == ["users/u/generated/b/image.jpg"]
