"""`POST /v1/images/generations` and `GET /v1/images/method` end to end: the official openai
client, the gateway and the simulator's imagine WebSocket and chat on loopback sockets.

The simulator makes real JPEGs from the prompt (`generated_image(prompt, ratio, stage, k)`,
k counting the images an account made for that prompt), so every test compares the bytes a
client received with what upstream made.
"""
from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import openai
import pytest

from ops.simulator.media import generated_image, jpeg_dimensions
from ops.simulator.state import CHAT_PATH, IMAGINE_WS_PATH

MODEL, LITE, PRO = "grok-imagine-image", "grok-imagine-image-lite", "grok-imagine-image-pro"


@pytest.fixture
async def gw(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    return stack


def b64(item) -> bytes:
    return base64.b64decode(item.b64_json)


async def fetch(url: str) -> tuple[int, bytes, str]:
    """A plain GET with no cookie and no key, as a browser showing the image would do."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


def chats(stack) -> list[dict]:
    return [r.json for r in stack.sim.state.requests_to(CHAT_PATH)]


async def test_b64_json_is_the_simulators_image_at_the_requested_aspect_ratio(gw):
    client = gw.openai()
    got = await client.images.generate(model=MODEL, prompt="a lighthouse at dusk", n=2,
                                       size="1792x1024", response_format="b64_json")
    assert [b64(d) for d in got.data] == [generated_image("a lighthouse at dusk", "3:2", "final", k)
                                          for k in range(2)]
    assert jpeg_dimensions(b64(got.data[0])) == (1248, 832)
    sent = gw.sim.state.imagine_sessions[0].frames
    props = sent[-1]["item"]["content"][0]["properties"]
    assert sent[0]["item"]["content"][0]["type"] == "reset"
    assert props["aspect_ratio"] == "3:2" and props["num_generations"] == 2
    assert props["enable_pro"] is False and props["enable_nsfw"] is False
    assert chats(gw) == []  # the socket served it
    headers = gw.sim.state.imagine_sessions[0].headers
    assert "sso=tok-a" in headers["cookie"] and headers["origin"] == "https://grok.com"
    assert "x-statsig-id" not in headers and "sec-ch-ua" in headers


@pytest.mark.parametrize("size,ratio,dims", [("1280x720", "16:9", (1280, 720)),
                                             ("9:16", "9:16", (720, 1280)),
                                             (None, "1:1", (1024, 1024))])
async def test_sizes_and_ratios_map_to_aspect_ratios(gw, size, ratio, dims):
    kw = {"size": size} if size else {}
    got = await gw.openai().images.generate(model=PRO, prompt=f"tree {ratio}",
                                            response_format="b64_json", **kw)
    assert b64(got.data[0]) == generated_image(f"tree {ratio}", ratio, "final", 0)
    assert jpeg_dimensions(b64(got.data[0])) == dims
    props = gw.sim.state.imagine_sessions[0].frames[-1]["item"]["content"][0]["properties"]
    assert props["enable_pro"] is True


async def test_url_is_a_gateway_link_that_works_without_cookies_after_the_cdn_is_gone(gw):
    got = await gw.openai().images.generate(model=MODEL, prompt="red fox", n=1)
    url = got.data[0].url
    assert url.startswith(gw.url + "/v1/files/image?id=")
    status, body, ctype = await fetch(url)
    assert status == 200 and ctype == "image/jpeg"
    assert body == generated_image("red fox", "1:1", "final", 0)
    gw.sim.state.cdn_offline = True
    status, again, _ = await fetch(url)
    assert status == 200 and again == body


async def test_lite_draws_through_the_chat_and_its_links_outlive_the_cdn(gw):
    got = await gw.openai().images.generate(model=LITE, prompt="blue whale", n=2)
    sent = chats(gw)
    assert len(sent) == 2  # one chat per image
    assert all(c["message"] == "Drawing: blue whale" and c["modeId"] == "fast"
               and c["imageGenerationCount"] == 2 for c in sent)
    assert gw.sim.state.imagine_sessions == []
    gw.sim.state.cdn_offline = True  # the files are the account's: the gateway kept copies
    bodies = [(await fetch(d.url))[1] for d in got.data]
    # the first image of each chat (two per chat): the 1st and the 3rd the account drew
    assert bodies == [generated_image("blue whale", None, "final", k) for k in (0, 2)]


async def test_n_above_one_round_runs_several_rounds_without_duplicates(gw):
    got = await gw.openai().images.generate(model=MODEL, prompt="mountain lake", n=8,
                                            response_format="b64_json")
    images = [b64(d) for d in got.data]
    assert images == [generated_image("mountain lake", "1:1", "final", k) for k in range(8)]
    assert len(set(images)) == 8
    session = gw.sim.state.imagine_sessions[0]
    asked = [f["item"]["content"][0]["properties"]["num_generations"] for f in session.frames
             if f["item"]["content"][0]["type"] == "input_text"]
    assert asked == [6, 2] and len(gw.sim.state.imagine_sessions) == 1


async def test_one_socket_per_account_is_reused_and_reopened_when_the_server_closed_it(gw):
    client = gw.openai()
    await client.images.generate(model=MODEL, prompt="one")
    await client.images.generate(model=MODEL, prompt="two [[sim close=1]]")
    assert [s.rounds for s in gw.sim.state.imagine_sessions] == [2]
    got = await client.images.generate(model=MODEL, prompt="three", response_format="b64_json")
    assert b64(got.data[0]) == generated_image("three", "1:1", "final", 0)
    assert [s.rounds for s in gw.sim.state.imagine_sessions] == [2, 1]


async def test_partly_moderated_gives_fewer_images_and_says_so(gw):
    prompt = "crowd [[sim moderated=0]]"
    async with gw.http() as http:
        async with http.post("/v1/images/generations", json={
                "model": MODEL, "prompt": prompt, "n": 2, "response_format": "b64_json"}) as r:
            assert r.status == 200
            body = await r.json()
    assert body["moderated"] == 1 and len(body["data"]) == 1
    # slot 0 withheld; slot 1 delivered; a second round (slot 0 again) brought nothing new
    assert base64.b64decode(body["data"][0]["b64_json"]) == generated_image(prompt, "1:1", "final", 1)
    assert "usage" in body and isinstance(body["created"], int)


async def test_fully_moderated_is_a_content_policy_error_and_no_account_is_penalised(gw):
    with pytest.raises(openai.BadRequestError) as info:
        await gw.openai().images.generate(model=MODEL, prompt="bad [[sim moderated=all]]", n=2)
    assert info.value.code == "content_policy_violation"
    acc = gw.gateway.pool.get("tok-a")
    assert acc.status == "active" and acc.usage_fail_count == 0 and acc.last_fail_reason == ""
    assert len(gw.sim.state.imagine_sessions) == 1  # no failover to another try


async def test_r_rated_images_are_withheld_unless_nsfw_is_on(gw):
    prompt = "beach [[sim rrated=0]]"
    got = await gw.openai().images.generate(model=MODEL, prompt=prompt, n=2,
                                            response_format="b64_json")
    assert len(got.data) == 1 and got.model_extra["moderated"] == 1
    # an account through the NSFW sequence (tag nsfw, NSFW on upstream) gets them
    gw.sim.state.add_token("tok-n", tier="super").nsfw = True
    gw.gateway.pool.add("tok-n", pool="super", tags=["nsfw"])
    gw.gateway.pool.disable("tok-a")
    got = await gw.openai().images.generate(model=MODEL, prompt=prompt, n=2,
                                            response_format="b64_json")
    assert [b64(d) for d in got.data] == [generated_image(prompt, "1:1", "final", k) for k in range(2)]
    props = gw.sim.state.imagine_sessions[-1].frames[-1]["item"]["content"][0]["properties"]
    assert props["enable_nsfw"] is True


async def test_stream_sends_partial_images_then_each_completed_image(gw):
    client = gw.openai()
    stream = await client.images.generate(model=MODEL, prompt="stars", n=2, stream=True,
                                          response_format="b64_json")
    events = [ev async for ev in stream]
    partial = [e for e in events if e.type == "image_generation.partial_image"]
    done = [e for e in events if e.type == "image_generation.completed"]
    assert [e.index for e in done] == [0, 1]
    assert [base64.b64decode(e.b64_json) for e in done] == [
        generated_image("stars", "1:1", "final", k) for k in range(2)]
    # the previews are the preview and medium stages, never the final image
    previews = {base64.b64decode(e.b64_json) for e in partial}
    assert previews == {generated_image("stars", "1:1", s, k) for s in ("preview", "medium")
                        for k in range(2)}
    assert events.index(done[-1]) == len(events) - 1


async def test_stream_content_type_and_url_events(gw):
    async with gw.http() as http:
        async with http.post("/v1/images/generations", json={
                "model": MODEL, "prompt": "owl", "stream": True}) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            text = await r.text()
    completed = [json.loads(line[6:]) for line in text.splitlines()
                 if line.startswith("data: {") and "completed" in line]
    assert len(completed) == 1 and completed[0]["url"].startswith(gw.url + "/v1/files/image?id=")


@pytest.mark.parametrize("fault", ["403_antibot", "500", "503"])
async def test_a_refused_handshake_falls_back_to_the_chat_path(gw, fault):
    gw.sim.state.inject(fault, path=IMAGINE_WS_PATH)
    got = await gw.openai().images.generate(model=MODEL, prompt="green apple",
                                            response_format="b64_json")
    assert [c["message"] for c in chats(gw)] == ["Drawing: green apple"]
    assert b64(got.data[0]) == generated_image("green apple", None, "final", 0)
    assert gw.sim.state.imagine_sessions == []


async def test_a_failed_first_round_falls_back_to_the_chat_path_on_the_same_account(gw):
    prompt = "pear [[sim error=internal_error]]"
    got = await gw.openai().images.generate(model=MODEL, prompt=prompt, response_format="b64_json")
    assert [(c["message"], c["modeId"]) for c in chats(gw)] == [("Drawing: " + prompt, "fast")]
    assert [r.token for r in gw.sim.state.requests_to(CHAT_PATH)] == ["tok-a"]
    assert b64(got.data[0]) == generated_image(prompt, None, "final", 0)


async def test_a_cloudflare_challenge_on_the_handshake_goes_to_the_clearance_path(gw):
    gw.sim.state.inject("403_cloudflare", path=IMAGINE_WS_PATH)
    with pytest.raises(openai.PermissionDeniedError) as info:  # no clearance configured
        await gw.openai().images.generate(model=MODEL, prompt="z")
    assert "challenge" in info.value.message
    assert chats(gw) == []


async def test_a_handshake_429_cools_the_account_and_does_not_fall_back(gw):
    gw.sim.state.inject("429", path=IMAGINE_WS_PATH)
    with pytest.raises(openai.RateLimitError):
        await gw.openai().images.generate(model=MODEL, prompt="x")
    assert chats(gw) == []
    assert gw.gateway.pool.mode_cooling("tok-a", "auto")


async def test_a_rate_limit_error_frame_is_a_429_that_cools_the_mode(gw):
    with pytest.raises(openai.RateLimitError):
        await gw.openai().images.generate(model=MODEL, prompt="y [[sim error=rate_limit_exceeded]]")
    assert gw.gateway.pool.mode_cooling("tok-a", "auto")
    assert chats(gw) == []


async def test_same_image_for_another_prompt_fails_over_and_is_noted(gw):
    client = gw.openai()
    first = await client.images.generate(model=MODEL, prompt="a red kite",
                                         response_format="b64_json")
    gw.add_account("tok-b", "heavy")  # super accounts are tried first: tok-a again
    prompt = "a blue boat [[sim stale=1]]"
    got = await client.images.generate(model=MODEL, prompt=prompt, response_format="b64_json")
    assert b64(got.data[0]) != b64(first.data[0])
    assert b64(got.data[0]) == generated_image(prompt, "1:1", "final", 0)  # tok-b's own image
    assert [s.token for s in gw.sim.state.imagine_sessions] == ["tok-a", "tok-b"]
    assert "stale" in gw.gateway.pool.get("tok-a").last_fail_reason
    assert gw.gateway.pool.get("tok-b").last_fail_reason == ""


async def test_method_route_needs_the_api_key(stack):
    await stack.start_gateway(GROK_APP_API_KEY="sk-images")
    async with stack.http() as http:
        async with http.get("/v1/images/method") as r:
            assert r.status == 401
        async with http.get("/v1/images/method",
                            headers={"Authorization": "Bearer sk-images"}) as r:
            assert r.status == 200
            assert await r.json() == {"image_generation_method": "imagine_ws_experimental"}
        async with http.post("/v1/images/generations", json={"model": MODEL, "prompt": "x"}) as r:
            assert r.status == 401


BAD = [
    ({"model": "grok-4.20-fast", "prompt": "x"}, "model", "invalid_value"),
    ({"model": "no-such-model", "prompt": "x"}, "model", "model_not_found"),
    ({"model": MODEL, "prompt": "   "}, "prompt", "invalid_value"),
    ({"model": MODEL}, "prompt", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "n": 0}, "n", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "n": 11}, "n", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "n": "2"}, "n", "invalid_value"),
    ({"model": LITE, "prompt": "x", "n": 5}, "n", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "n": 3, "stream": True}, "n", "invalid_stream_n"),
    ({"model": MODEL, "prompt": "x", "size": "512x512"}, "size", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "size": "4:3"}, "size", "invalid_value"),
    ({"model": MODEL, "prompt": "x", "response_format": "gif"}, "response_format",
     "invalid_value"),
]


@pytest.mark.parametrize("body,param,code", BAD)
async def test_bad_input_is_a_400_naming_the_parameter_before_anything_goes_upstream(
        gw, body, param, code):
    async with gw.http() as http:
        async with http.post("/v1/images/generations", json=body) as r:
            assert r.status == 400
            err = (await r.json())["error"]
    assert err["param"] == param and err["code"] == code
    assert gw.sim.state.imagine_sessions == [] and chats(gw) == []
    assert gw.gateway.pool.get("tok-a").usage_fail_count == 0


async def test_base64_is_accepted_as_the_older_name_of_b64_json(gw):
    async with gw.http() as http:
        async with http.post("/v1/images/generations", json={
                "model": MODEL, "prompt": "kiwi", "response_format": "base64",
                "quality": "hd", "style": "vivid", "user": "u1"}) as r:
            assert r.status == 200
            body = await r.json()
    assert base64.b64decode(body["data"][0]["b64_json"]) == generated_image("kiwi", "1:1", "final", 0)


async def test_image_models_are_listed(gw):
    ids = [m.id async for m in gw.openai().models.list()]
    assert {MODEL, PRO} <= set(ids)


async def test_concurrent_requests_of_one_account_each_get_their_own_images(gw):
    client = gw.openai()
    got = await asyncio.gather(*(client.images.generate(
        model=MODEL, prompt=f"parallel {i}", response_format="b64_json") for i in range(3)))
    for i, answer in enumerate(got):
        assert b64(answer.data[0]) == generated_image(f"parallel {i}", "1:1", "final", 0)
    # one socket is kept for the account; the others were opened for the overlap and closed
    assert len(gw.gateway.services.image_transport._idle) == 1


async def test_lite_fully_moderated_is_a_content_policy_error(gw):
    with pytest.raises(openai.BadRequestError) as info:
        await gw.openai().images.generate(model=LITE, prompt="no [[sim moderated=all]]")
    assert info.value.code == "content_policy_violation"
    assert gw.gateway.pool.get("tok-a").usage_fail_count == 0


async def test_the_image_model_through_chat_completions_uses_the_same_path(gw):
    answer = await gw.openai().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a paper boat"}],
        extra_body={"image_config": {"n": 2, "size": "1280x720", "response_format": "b64_json"}})
    content = answer.choices[0].message.content
    found = [base64.b64decode(part.split("base64,", 1)[1].split(")", 1)[0])
             for part in content.split("![image](")[1:]]
    assert found == [generated_image("a paper boat", "16:9", "final", k) for k in range(2)]
    assert len(gw.sim.state.imagine_sessions) == 1
