"""Image and video models through chat completions: the media job parsed from the messages
and `image_config` / `video_config` (every bad value a 400 naming it), and the media events
shown as chat text (progress as reasoning, results as content in the chosen format)."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from addons.events import End, MediaModerated, MediaProgress, MediaResult, TextDelta
from addons.flow import Flow
from addons.jobs import ChatRequest, ImageEditRequest, ImageRequest, Message, VideoRequest
from addons.services.catalogue import CATALOGUE
from addons.services.media_cache import MediaCache
from addons.services.media_output import MediaOutput
from quart_app.dialects.chat_media_request import parse_chat_media
from quart_app.dialects.chat_media_response import MediaAsChat
from quart_app.dialects.chat_model import ChatBody
from quart_app.dialects.collect import collect
from quart_app.dialects.schema import decode
from state.options import FixedSettings

SPECS = {m.id: m for m in CATALOGUE}
IMG = {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}


def parse(model: str, messages: list, **extra):
    body = decode({"model": model, "messages": messages, **extra}, ChatBody)
    return parse_chat_media(body, FixedSettings(), SPECS[model])


def user(*content) -> dict:
    return {"role": "user", "content": list(content) if len(content) > 1 or not isinstance(
        content[0], str) else content[0]}


def test_an_image_model_takes_the_last_user_text_and_its_image_config():
    job = parse("grok-imagine-image", [user("old"), {"role": "assistant", "content": "x"},
                                       user("a red fox")],
                image_config={"n": 3, "size": "1280x720", "response_format": "base64"})
    assert isinstance(job, ImageRequest)
    assert (job.prompt, job.n, job.size, job.response_format) == ("a red fox", 3, "1280x720", "b64_json")
    assert job.options == {"response_format": "b64_json"}


def test_the_edit_model_takes_the_last_seven_images_and_needs_one():
    images = [{"type": "image_url", "image_url": {"url": f"https://example.org/{i}.png"}}
              for i in range(9)]
    job = parse("grok-imagine-image-edit", [user({"type": "text", "text": "make it blue"}, *images)])
    assert isinstance(job, ImageEditRequest)
    assert [a.url for a in job.images] == [f"https://example.org/{i}.png" for i in range(2, 9)]
    with pytest.raises(ApiError) as err:
        parse("grok-imagine-image-edit", [user("make it blue")])
    assert err.value.param == "messages"


def test_the_video_model_maps_its_config_and_older_keys():
    job = parse("grok-imagine-video", [user({"type": "text", "text": "waves"}, IMG)],
                video_config={"seconds": 16, "size": "1792x1024", "resolution_name": "480p",
                              "preset": "fun"})
    assert isinstance(job, VideoRequest)
    assert (job.prompt, job.seconds, job.size, job.resolution, job.preset) == (
        "waves", 16, "1792x1024", "480p", "fun")
    assert [a.url for a in job.references] == ["https://example.org/cat.png"]
    old = parse("grok-imagine-video", [user("waves")],
                video_config={"aspect_ratio": "16:9", "video_length": 9, "resolution": "SD"})
    assert (old.size, old.seconds, old.resolution) == ("1280x720", 10, "480p")


@pytest.mark.parametrize("model,extra,param", [
    ("grok-imagine-image", {"image_config": {"n": 11}}, "image_config.n"),
    ("grok-imagine-image-lite", {"image_config": {"n": 5}}, "image_config.n"),
    ("grok-imagine-image", {"image_config": {"size": "800x600"}}, "image_config.size"),
    ("grok-imagine-image", {"image_config": {"response_format": "gif"}},
     "image_config.response_format"),
    ("grok-imagine-video", {"video_config": {"seconds": 7}}, "video_config.seconds"),
    ("grok-imagine-video", {"video_config": {"size": "1x1"}}, "video_config.size"),
    ("grok-imagine-video", {"video_config": {"resolution_name": "1080p"}},
     "video_config.resolution_name"),
    ("grok-imagine-video", {"video_config": {"preset": "wild"}}, "video_config.preset"),
    ("grok-imagine-image", {}, "messages"),  # blank prompt below
])
def test_bad_media_options_are_400s_naming_the_parameter(model, extra, param):
    text = "   " if param == "messages" else "a prompt"
    with pytest.raises(ApiError) as err:
        parse(model, [user(text)], **extra)
    assert (err.value.status, err.value.param) == (400, param)


class Lease:
    token = "sso-owner"


class FakePipeline:
    def __init__(self, *batches: list) -> None:
        self.batches = batches

    async def events(self, flow):
        for batch in self.batches:
            yield batch

    async def close(self, flow) -> None:
        pass


@pytest.fixture
async def output(tmp_path):
    cache = MediaCache(tmp_path, FixedSettings())
    await cache.start()
    return MediaOutput(cache, FixedSettings())


def flow_of(request) -> Flow:
    flow = Flow(request=request, client_headers={})
    flow.lease = Lease()
    return flow


async def test_an_image_job_shows_progress_as_reasoning_and_images_as_markdown_links(output):
    pipeline = FakePipeline(
        [MediaProgress("image", 0, 40), MediaProgress("image", 0, 40), MediaProgress("image", 1, 60)],
        [MediaResult("image", 0, "https://assets.example/a.jpg", blob=b"a"),
         MediaModerated("image", 1), MediaResult("image", 2, "https://assets.example/c.jpg", blob=b"c")],
        [End()])
    flow = flow_of(ImageRequest(model="grok-imagine-image", prompt="p", n=2))
    got = await collect(MediaAsChat(pipeline, output, "https://gw.example"), flow)
    assert "".join(got.reasoning) == "Image generating 40% (0/2)\nImage generating 60% (0/2)\n"
    first, second = "".join(got.text).split("\n\n")
    assert first.startswith("![image](https://gw.example/v1/files/image?id=")
    assert second.startswith("![image](https://gw.example/v1/files/image?id=")


async def test_a_chat_model_s_drawn_image_follows_its_text_in_the_configured_format(tmp_path):
    settings = FixedSettings({"features.image_format": "grok_url"})
    cache = MediaCache(tmp_path, settings)
    await cache.start()
    pipeline = FakePipeline([TextDelta("Here it is."),
                             MediaResult("image", 0, "https://assets.example/a.jpg")], [End()])
    flow = flow_of(ChatRequest(model="grok-4.20-fast", messages=[Message("user", ["draw"])]))
    got = await collect(MediaAsChat(pipeline, MediaOutput(cache, settings), "http://gw"), flow)
    assert "".join(got.text) == "Here it is.\nhttps://assets.example/a.jpg\n"
