"""The video payloads and the transport that runs a video's segments in sequence."""
from __future__ import annotations

import pytest

from addons.events import End, MediaModerated, MediaProgress, MediaResult, TextDelta, UpstreamFailure
from addons.upstream import video_payload as vp
from addons.upstream.base import Timeouts
from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.video_transport import VideoTransport, VideoUpstreamRequest, scaled
from addons.upstream.wire import UpstreamRequest


@pytest.mark.parametrize("seconds, segments", [(6, (6,)), (10, (10,)), (12, (6, 6)),
                                               (16, (10, 6)), (20, (10, 10))])
def test_segments_of_each_length(seconds, segments):
    assert vp.segments(seconds) == segments


def test_an_extension_starts_one_frame_after_what_was_made():
    assert vp.start_time(6) == 6.041667
    assert vp.start_time(10) == 10.041667


def test_first_payload_text_to_video_and_with_references():
    plain = vp.first_payload("a cat", parent_post_id="p1", size="1792x1024", resolution="480p",
                             preset="spicy", length=10)
    assert plain["modelName"] == "imagine-video-gen" and plain["temporary"] is True
    assert plain["message"] == "a cat --mode=extremely-spicy-or-crazy"
    config = plain["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert config == {"parentPostId": "p1", "aspectRatio": "16:9", "videoLength": 10,
                      "resolutionName": "480p"}
    refs = vp.first_payload("a cat", parent_post_id="p1", size="1024x1024", resolution="720p",
                            preset="fun", length=6, references=["https://a/u/1/content"])
    config = refs["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert config["isReferenceToVideo"] is True and config["isVideoEdit"] is False
    assert config["imageReferences"] == ["https://a/u/1/content"]
    assert config["aspectRatio"] == "1:1" and refs["message"].endswith("--mode=extremely-crazy")


def test_extension_payload():
    ext = vp.extension_payload("a cat", parent_post_id="p1", extend_post_id="v1",
                               done_seconds=10, size="720x1280", resolution="720p",
                               preset="normal", length=6)
    config = ext["responseMetadata"]["modelConfigOverride"]["modelMap"]["videoGenModelConfig"]
    assert config["isVideoExtension"] is True and config["stitchWithExtendPostId"] is True
    assert config["videoExtensionStartTime"] == 10.041667
    assert (config["extendPostId"], config["originalPostId"], config["parentPostId"]) == (
        "v1", "p1", "p1")
    assert config["originalPrompt"] == "a cat" and config["mode"] == "normal"
    assert config["originalRefType"] == "ORIGINAL_REF_TYPE_VIDEO_EXTENSION"
    assert (config["videoLength"], config["aspectRatio"]) == (6, "9:16")
    assert ext["message"] == "a cat --mode=normal"


def test_progress_is_scaled_across_segments():
    assert scaled(50, 0, 10, 16) == 31
    assert scaled(0, 10, 6, 16) == 62
    assert scaled(100, 10, 6, 16) == 99  # 100 only with the finished video


def segment(post: str, url: str, *extra) -> MockResponse:
    return MockResponse(200, [
        [MediaProgress("video", 0, 50)],
        [MediaResult("video", 0, url, post_id=post), TextDelta("I generated a video"), *extra],
        [End()]])


def video_request(lengths, made: list) -> VideoUpstreamRequest:
    def extend(number: int, done: float, post: str) -> UpstreamRequest:
        made.append((number, done, post))
        return UpstreamRequest("POST", f"http://x/ext{number}", {}, {"n": number}, kind="video")
    return VideoUpstreamRequest("POST", "http://x/first", {}, {}, kind="video",
                                segments=lengths, extend=extend, parent_post_id="parent")


async def read(stream) -> list:
    out = []
    async for batch in stream.events():
        out.extend(batch)
    return out


async def test_sixteen_seconds_runs_two_segments_and_answers_the_last_url():
    inner = MockTransport.script(segment("post-a", "http://a/first.mp4"),
                                 segment("post-b", "http://a/stitched.mp4"))
    made: list = []
    stream = await VideoTransport(inner).open(video_request((10, 6), made), Timeouts())
    events = await read(stream)
    assert made == [(1, 10.0, "post-a")]  # the extension continues the first segment's post
    results = [e for e in events if type(e) is MediaResult]
    assert [r.url for r in results] == ["http://a/stitched.mp4"]
    assert [e.progress for e in events if type(e) is MediaProgress] == [31, 62, 81]
    assert [e.text for e in events if type(e) is TextDelta] == ["I generated a video"]
    assert type(events[-1]) is End and sum(type(e) is End for e in events) == 1
    assert inner.streams[0].closed


async def test_a_refused_extension_fails_the_try():
    inner = MockTransport.script(segment("post-a", "http://a/first.mp4"),
                                 MockResponse(429, body='{"error":"too many"}'))
    stream = await VideoTransport(inner).open(video_request((6, 6), []), Timeouts())
    events = await read(stream)
    assert type(events[-1]) is UpstreamFailure and events[-1].status == 429
    assert not any(type(e) is MediaResult or type(e) is End for e in events)


async def test_a_segment_without_a_video_fails_and_a_moderated_one_ends_the_answer():
    empty = MockResponse(200, [[MediaProgress("video", 0, 40)], [End()]])
    stream = await VideoTransport(MockTransport.script(empty)).open(
        video_request((6, 6), []), Timeouts())
    events = await read(stream)
    assert type(events[-1]) is UpstreamFailure and "without a video" in events[-1].message
    withheld = MockResponse(200, [[MediaModerated("video", 0)], [End()]])
    inner = MockTransport.script(withheld)
    stream = await VideoTransport(inner).open(video_request((10, 10), []), Timeouts())
    events = await read(stream)
    assert [type(e) for e in events] == [MediaModerated, End]
    assert len(inner.requests) == 1  # no extension of a withheld segment


async def test_a_single_segment_or_a_refused_first_call_is_passed_through():
    inner = MockTransport.script(MockResponse(403, body="blocked"))
    stream = await VideoTransport(inner).open(video_request((6,), []), Timeouts())
    assert stream.status == 403 and await stream.error_body() == "blocked"
