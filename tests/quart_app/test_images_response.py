"""The image endpoints' answers from a flow's media events: links to the gateway's own copy
or base64, moderated slots counted, previews only as partial events, and a failure when no
image could be kept."""
from __future__ import annotations

import base64

import orjson
import pytest

from addons.errors import ApiError
from addons.events import End, MediaModerated, MediaProgress, MediaResult
from addons.flow import Flow
from addons.services.media_cache import MediaCache
from addons.services.media_output import MediaOutput
from quart_app.dialects.images_response import ImageItems, complete_images, stream_images
from state.options import FixedSettings

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"


class Lease:
    token = "sso-owner"


class FakePipeline:
    """Yields the given batches as `Pipeline.events` does and records the close."""

    def __init__(self, *batches: list) -> None:
        self.batches = batches
        self.closed = False

    async def events(self, flow):
        for batch in self.batches:
            yield batch

    async def close(self, flow) -> None:
        self.closed = True


@pytest.fixture
async def output(tmp_path):
    cache = MediaCache(tmp_path, FixedSettings())
    await cache.start()
    return MediaOutput(cache, FixedSettings())


def flow() -> Flow:
    f = Flow(client_headers={})
    f.lease = Lease()
    return f


async def test_url_format_links_to_the_local_copy_and_counts_moderated_slots(output):
    pipeline = FakePipeline(
        [MediaProgress("image", 0, 30, preview="cHJldmlldw==")],
        [MediaResult("image", 1, "https://assets.example/b.jpg", blob=JPEG + b"1"),
         MediaModerated("image", 2),
         MediaResult("image", 0, "https://assets.example/a.jpg", blob=JPEG + b"0")],
        [End()])
    f = flow()
    body = await complete_images(pipeline, f, ImageItems(output, f, "url", "https://gw.example"))
    assert pipeline.closed
    assert body["moderated"] == 1
    urls = [item["url"] for item in body["data"]]
    assert len(urls) == 2 and all(u.startswith("https://gw.example/v1/files/image?id=") for u in urls)
    # sorted by slot: the first link serves slot 0's bytes
    first = output.cache.find("image", urls[0].rsplit("=", 1)[1])
    assert first.path.read_bytes() == JPEG + b"0"


async def test_b64_json_carries_the_bytes(output):
    pipeline = FakePipeline([MediaResult("image", 0, "https://assets.example/a.jpg", blob=JPEG)],
                            [End()])
    f = flow()
    body = await complete_images(pipeline, f, ImageItems(output, f, "base64", "http://x"))
    assert base64.b64decode(body["data"][0]["b64_json"]) == JPEG
    assert "moderated" not in body


async def test_an_image_that_cannot_be_copied_is_never_replaced_by_the_upstream_url(output):
    # no transport is bound: the download fails
    pipeline = FakePipeline([MediaResult("image", 0, "https://assets.example/a.jpg")], [End()])
    f = flow()
    with pytest.raises(ApiError) as err:
        await complete_images(pipeline, f, ImageItems(output, f, "url", "http://x"))
    assert err.value.status == 502 and err.value.code == "media_unavailable"


async def test_the_stream_sends_partials_then_completed_events(output):
    pipeline = FakePipeline(
        [MediaProgress("image", 0, 30, preview="cHJldmlldw==")],
        [MediaResult("image", 0, "https://assets.example/a.jpg", blob=JPEG)], [End()])
    f = flow()
    chunks = [c async for c in stream_images(
        pipeline, f, ImageItems(output, f, "b64_json", "http://x"), "1024x1024")]
    text = b"".join(chunks).decode()
    events = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: {")]
    partial, done = (orjson.loads(e) for e in events)
    assert "event: image_generation.partial_image" in text
    assert partial["b64_json"] == "cHJldmlldw==" and partial["progress"] == 30
    assert done["type"] == "image_generation.completed"
    assert base64.b64decode(done["b64_json"]) == JPEG and done["index"] == 0
    assert text.rstrip().endswith("data: [DONE]")
    assert pipeline.closed
