"""The chat-based image path: one chat per image, the first new image of each taken, the
rest of the chat abandoned; failures after some images end the answer with them."""
from __future__ import annotations

from addons.events import (
    End, MediaModerated, MediaProgress, MediaResult, TextDelta, UpstreamFailure,
)
from addons.upstream.base import Timeouts, TransportError
from addons.upstream.imagine_chat import ChatImageTransport
from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.wire import UpstreamRequest


def drawing(*urls: str, moderated: int = 0) -> MockResponse:
    """A chat that draws: progress, then its slots (the first `moderated` withheld)."""
    batches: list = [[TextDelta("drawing"), MediaProgress("image", 0, 50)]]
    for i, url in enumerate(urls):
        batches.append([MediaModerated("image", i)] if i < moderated
                       else [MediaResult("image", i, url)])
    return MockResponse(200, [*batches, [End()]])


async def collect(rest: MockTransport, count: int) -> list:
    request = UpstreamRequest("POST", "https://grok.com/chat", {"Cookie": "sso=t"}, {},
                              kind="image_chat", count=count)
    stream = await ChatImageTransport(rest).open(request, Timeouts())
    out: list = []
    async for batch in stream.events():
        out += batch
    return out


async def test_one_chat_per_image_first_new_image_of_each():
    rest = MockTransport.script(drawing("u/a", "u/b"), drawing("u/a", "u/c"))
    events = await collect(rest, 2)
    results = [(e.index, e.url) for e in events if type(e) is MediaResult]
    assert results == [(0, "u/a"), (1, "u/c")]  # u/a again is not taken twice
    assert [e.index for e in events if type(e) is MediaProgress] == [0, 1]
    assert not any(type(e) is TextDelta for e in events)
    assert type(events[-1]) is End and len(rest.requests) == 2


async def test_a_chat_whose_slots_were_all_withheld_is_one_moderated_image():
    rest = MockTransport.script(drawing("u/a", "u/b", moderated=2), drawing("u/c"))
    events = await collect(rest, 2)
    assert [type(e) for e in events if type(e) in (MediaModerated, MediaResult)] == [
        MediaModerated, MediaResult]
    assert [e.index for e in events if type(e) is MediaResult] == [0]


async def test_a_later_failure_ends_the_answer_with_the_images_made():
    rest = MockTransport.script(drawing("u/a"), MockResponse.json({"error": "x"}, status=503))
    events = await collect(rest, 3)
    assert [type(e) for e in events if type(e) is not MediaProgress] == [MediaResult, End]


async def test_a_failure_before_any_image_fails_the_try():
    rest = MockTransport.script(MockResponse(200, [TransportError("cut")]))
    events = await collect(rest, 2)
    assert type(events[-1]) is UpstreamFailure and events[-1].status == 502
    refused = MockTransport.script(MockResponse.json({"error": "x"}, status=429))
    request = UpstreamRequest("POST", "https://grok.com/chat", {}, {}, kind="image_chat")
    assert (await ChatImageTransport(refused).open(request, Timeouts())).status == 429
