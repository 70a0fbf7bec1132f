"""The chat stream's media frames → neutral media events (previews never final, moderated
slots never delivered, relative asset paths made absolute)."""
from __future__ import annotations

import orjson

from addons.events import End, FinalMessage, MediaModerated, MediaProgress, MediaResult
from addons.upstream.frames import FrameParser

ASSETS = "https://assets.example"


def frames(*responses: dict) -> bytes:
    return b"".join(orjson.dumps({"result": {"response": r}}) + b"\n" for r in responses)


def parse(*responses: dict) -> list:
    parser = FrameParser(ASSETS)
    return parser.feed(frames(*responses)) + parser.close()


def image(index: int, progress: int, url: str, **extra) -> dict:
    return {"streamingImageGenerationResponse": {"imageIndex": index, "progress": progress,
                                                 "imageUrl": url, **extra}}


def test_an_edit_stream_gives_progress_then_the_final_images_and_withholds_moderated_ones():
    events = parse(
        image(0, 50, "users/u/generated/a-part-0/image.jpg"),
        image(1, 50, "users/u/generated/b-part-0/image.jpg"),
        image(0, 100, "users/u/generated/a/image.jpg", assetId="a1", moderated=False),
        image(1, 100, "users/u/generated/b/image.jpg", moderated=True),
        {"modelResponse": {"message": "", "generatedImageUrls": [
            "users/u/generated/a/image.jpg", "users/u/generated/b/image.jpg"]}},
        {"token": "", "isSoftStop": True},
    )
    media = [e for e in events if type(e) in (MediaProgress, MediaResult, MediaModerated)]
    assert media == [
        MediaProgress("image", 0, 50), MediaProgress("image", 1, 50),
        MediaResult("image", 0, f"{ASSETS}/users/u/generated/a/image.jpg", asset_id="a1"),
        MediaModerated("image", 1),
    ]
    assert type(events[-1]) is End


def test_a_preview_path_at_progress_100_is_not_a_result():
    events = parse(image(0, 100, "users/u/generated/a-part-0/image.jpg"),
                   {"token": "", "isSoftStop": True})
    assert not [e for e in events if type(e) is MediaResult]


def test_generated_urls_fill_slots_without_a_final_frame():
    events = parse({"modelResponse": {"message": "here", "generatedImageUrls": [
        "https://cdn.example/x/image.jpg"]}}, {"token": "", "isSoftStop": True})
    assert MediaResult("image", 0, "https://cdn.example/x/image.jpg") in events
    assert any(type(e) is FinalMessage for e in events)


def test_a_video_stream_gives_scaled_progress_and_the_final_video_with_its_post():
    head = {"videoId": "v1", "videoPostId": "p1"}
    events = parse(
        {"streamingVideoGenerationResponse": {**head, "progress": 40}},
        {"streamingVideoGenerationResponse": {
            **head, "progress": 100, "assetId": "v1",
            "videoUrl": "users/u/generated/v1/generated_video.mp4",
            "thumbnailImageUrl": "users/u/generated/v1/preview_image.jpg"}},
        {"token": "done", "isSoftStop": True},
    )
    assert MediaProgress("video", 0, 40) in events
    result = next(e for e in events if type(e) is MediaResult)
    assert result == MediaResult("video", 0, f"{ASSETS}/users/u/generated/v1/generated_video.mp4",
                                 thumbnail=f"{ASSETS}/users/u/generated/v1/preview_image.jpg",
                                 asset_id="v1", post_id="p1")


def test_a_moderated_video_is_withheld():
    events = parse({"streamingVideoGenerationResponse": {"videoId": "v", "progress": 100,
                                                         "moderated": True}},
                   {"token": "no", "isSoftStop": True})
    assert MediaModerated("video", 0) in events
    assert not [e for e in events if type(e) is MediaResult]


def test_a_generated_image_card_becomes_a_result_once_it_reaches_100():
    def card(progress: int) -> dict:
        data = {"id": "c1", "type": "render_generated_image",
                "image_chunk": {"imageUuid": "u1", "imageUrl": "users/u/generated/u1/image.jpg",
                                "progress": progress, "moderated": False}}
        return {"cardAttachment": {"jsonData": orjson.dumps(data).decode()}}

    events = parse(card(30), card(100), card(100), {"token": "", "isSoftStop": True})
    assert MediaProgress("image", 0, 30) in events
    assert [e for e in events if type(e) is MediaResult] == [
        MediaResult("image", 0, f"{ASSETS}/users/u/generated/u1/image.jpg")]
