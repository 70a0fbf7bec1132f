"""The stale-media check: the same image from one account for another prompt, within the
window, fails the try; anything else passes."""
from __future__ import annotations

from types import SimpleNamespace

from addons.events import STALE_MEDIA, MediaResult, TextDelta, UpstreamFailure
from addons.flow import Flow
from addons.jobs import ImageRequest
from addons.stale_media import StaleMedia
from addons.testflow import tflow
from addons.upstream import classify


def settings(window: float = 600.0):
    return SimpleNamespace(options=SimpleNamespace(image=SimpleNamespace(stale_window_sec=window)))


def image_flow(prompt: str, token: str = "tok-a") -> Flow:
    flow = Flow(request=ImageRequest(model="grok-imagine-image", prompt=prompt))
    flow.prompt = prompt
    flow.lease = SimpleNamespace(token=token)
    return flow


def check(addon: StaleMedia, prompt: str, blob: bytes, token: str = "tok-a",
          url: str = "https://x/images/a.jpg") -> list:
    return addon.transform(image_flow(prompt, token)).chunk(MediaResult("image", 0, url, blob=blob))


def test_same_bytes_for_another_prompt_on_the_same_account_fail_the_try():
    addon = StaleMedia(settings())
    assert type(check(addon, "cat", b"jpeg-1")[0]) is MediaResult
    assert type(check(addon, "cat", b"jpeg-1")[0]) is MediaResult  # same prompt: fine
    [failure] = check(addon, "dog", b"jpeg-1", url="https://x/images/b.jpg")
    assert type(failure) is UpstreamFailure and failure.code == STALE_MEDIA
    assert classify.failure_kind(failure) == classify.STALE
    # another account, other bytes under the same URL: not stale
    assert type(check(addon, "dog", b"jpeg-1", token="tok-b")[0]) is MediaResult
    assert type(check(addon, "bird", b"jpeg-2", url="https://y/c.jpg")[0]) is MediaResult


def test_the_same_url_without_bytes_is_stale_too():
    addon = StaleMedia(settings())
    check(addon, "cat", b"jpeg-1", url="https://x/images/a.jpg")
    flow = image_flow("dog")
    [failure] = addon.transform(flow).chunk(MediaResult("image", 0, "https://x/images/a.jpg"))
    assert type(failure) is UpstreamFailure


def test_outside_the_window_or_switched_off_or_for_chat_nothing_is_checked():
    addon = StaleMedia(settings(window=0.0))
    assert addon.transform(image_flow("cat")) is None
    assert StaleMedia(settings()).transform(tflow("hi")) is None
    addon = StaleMedia(settings(window=1e-9))
    check(addon, "cat", b"x")
    assert type(check(addon, "dog", b"x")[0]) is MediaResult
    assert StaleMedia(settings()).transform(image_flow("cat")).chunk(TextDelta("t"))[0].text == "t"
