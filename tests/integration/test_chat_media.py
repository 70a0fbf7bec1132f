"""Image and video models through /v1/chat/completions with the official openai client, over
real sockets: progress as reasoning, the result as content in the configured format, links
that work without cookies after grok.com's CDN is gone, and bad options refused before
anything goes upstream."""
from __future__ import annotations

import re

import aiohttp
import openai
import pytest

from ops.simulator.media import generated_video
from ops.simulator.state import CHAT_PATH

KEY = "sk-chat-media"
LINK = re.compile(r'src="(http://[^"]+/v1/files/video\?id=[A-Za-z0-9_-]+)"')


@pytest.fixture
async def mstack(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY)
    stack.add_account("tok-media-1")
    return stack


def video_chats(stack) -> list:
    return [r for r in stack.sim.state.requests_to(CHAT_PATH)
            if (r.json or {}).get("modelName") == "imagine-video-gen"]


async def test_a_video_through_chat_is_a_local_video_tag_that_outlives_the_cdn(mstack):
    prompt = "waves at dusk [[sim progress_frames=3]]"
    r = await mstack.openai(KEY).chat.completions.create(
        model="grok-imagine-video", messages=[{"role": "user", "content": prompt}],
        extra_body={"video_config": {"seconds": 10, "size": "1280x720"}})
    message = r.choices[0].message
    link = LINK.search(message.content)
    assert message.content.startswith("<video controls src=") and link
    assert "Video generating" in message.model_extra["reasoning_content"]
    config = video_chats(mstack)[0].json["responseMetadata"]["modelConfigOverride"]["modelMap"][
        "videoGenModelConfig"]
    assert (config["videoLength"], config["aspectRatio"]) == (10, "16:9")
    mstack.sim.state.cdn_offline = True  # grok.com's copy is gone; the gateway's is not
    async with aiohttp.ClientSession() as browser:  # no key, no cookie
        async with browser.get(link.group(1)) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            assert await resp.read() == generated_video(prompt, 10, "720p", "16:9")


async def test_a_streamed_video_shows_progress_as_reasoning_then_the_video(mstack):
    stream = await mstack.openai(KEY).chat.completions.create(
        model="grok-imagine-video", stream=True,
        messages=[{"role": "user", "content": "rain [[sim progress_frames=4]]"}])
    reasoning, content = [], []
    async for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is None:
            continue
        if delta.model_extra.get("reasoning_content"):
            reasoning.append(delta.model_extra["reasoning_content"])
        if delta.content:
            content.append(delta.content)
    lines = "".join(reasoning).splitlines()
    assert len(lines) >= 3 and all(re.fullmatch(r"Video generating \d+%", x) for x in lines)
    assert "".join(content).startswith("<video controls src=")


@pytest.mark.parametrize("extra,param", [
    ({"video_config": {"seconds": 7}}, "video_config.seconds"),
    ({"video_config": {"resolution_name": "1080p"}}, "video_config.resolution_name"),
    ({"video_config": {"preset": "wild"}}, "video_config.preset"),
    ({"video_config": {"size": "1x1"}}, "video_config.size"),
])
async def test_bad_video_options_are_400s_before_anything_goes_upstream(mstack, extra, param):
    with pytest.raises(openai.BadRequestError) as err:
        await mstack.openai(KEY).chat.completions.create(
            model="grok-imagine-video", messages=[{"role": "user", "content": "x"}],
            extra_body=extra)
    assert err.value.body["param"] == param
    assert not mstack.sim.state.requests_to(CHAT_PATH)


async def test_the_cache_limit_evicts_the_oldest_file_first(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY, GROK_CACHE_LOCAL_VIDEO_MAX_MB="1")
    stack.add_account("tok-media-1")
    client = stack.openai(KEY)
    links = []
    for name in ("first", "second"):  # 600 KiB each: the second pushes the first out
        r = await client.chat.completions.create(
            model="grok-imagine-video",
            messages=[{"role": "user", "content": f"{name} [[sim video_kb=600]]"}])
        links.append(LINK.search(r.choices[0].message.content).group(1))
    async with aiohttp.ClientSession() as browser:
        async with browser.get(links[0]) as old, browser.get(links[1]) as new:
            assert old.status == 404
            assert new.status == 200 and len(await new.read()) == 600 * 1024
