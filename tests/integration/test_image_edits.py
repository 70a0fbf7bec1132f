"""`POST /v1/images/edits` end to end: the official openai client (and raw multipart) against
the gateway and the simulator. What the client receives is compared with what the simulator
drew (its images are a pure function of the prompt and the slot), and what the gateway sent
upstream is read from the simulator's record."""
from __future__ import annotations

import base64
from typing import Any

import aiohttp
import openai
import pytest

from ops.simulator.media import generated_image
from ops.simulator.state import CHAT_PATH, MEDIA_POST_PATH, UPLOAD_PATH, UPLOAD_V2_PATH
from tests.integration.test_image_input import PNG

MODEL = "grok-imagine-image-edit"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24


def drawn(prompt: str, index: int = 0) -> bytes:
    """The final image the simulator draws for slot `index` of an edit with `prompt`."""
    return generated_image(prompt, None, "final", index)


def upstream(stack) -> list[Any]:
    """Every call the gateway made to grok.com (uploads, posts, chats, downloads)."""
    return list(stack.sim.state.requests)


async def fetch_plain(url: str) -> tuple[int, bytes, str]:
    """GET without cookies or credentials, as a browser of the API's user would."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def test_one_file_gives_a_link_to_the_edited_image(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().images.edit(model=MODEL, image=("cat.png", PNG, "image/png"),
                                         prompt="make the sky purple")
    assert len(r.data) == 1 and r.data[0].b64_json is None
    assert r.data[0].url.startswith(stack.url + "/v1/files/image?id=")
    # upstream: the image uploaded to the account, a media post, then the edit referencing both
    (upload,) = stack.sim.state.requests_to(UPLOAD_PATH)
    assert upload.token == "tok-a" and base64.b64decode(upload.json["content"]) == PNG
    assert upload.json["fileMimeType"] == "image/png"
    (post,) = stack.sim.state.requests_to(MEDIA_POST_PATH)
    assert post.json == {"mediaType": "MEDIA_POST_TYPE_IMAGE", "prompt": "make the sky purple"}
    (chat,) = stack.sim.state.requests_to(CHAT_PATH)
    (file,) = stack.sim.state.files.values()
    config = chat.json["responseMetadata"]["modelConfigOverride"]["modelMap"]
    post_id = next(iter(stack.sim.state.posts))
    assert chat.json["modelName"] == "imagine-image-edit"
    assert config["imageEditModelConfig"] == {
        "imageReferences": [f"{stack.sim.url}/users/{file.user_id}/{file.file_id}/content"],
        "parentPostId": post_id}
    assert chat.headers["referer"] == f"https://grok.com/imagine/post/{post_id}"
    # the link opens without cookies and gives the image the simulator drew, even with the
    # upstream CDN gone
    stack.sim.state.cdn_offline = True
    status, data, ctype = await fetch_plain(r.data[0].url)
    assert (status, ctype) == (200, "image/jpeg") and data == drawn("make the sky purple")


async def test_several_files_as_b64_json_with_placeholders(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    prompt = "put the hat of @IMAGE2 on @image1"
    r = await stack.openai().images.edit(
        model=MODEL, prompt=prompt, n=2, response_format="b64_json",
        image=[("a.png", PNG, "image/png"), ("b.jpg", JPEG, "image/jpeg"),
               ("c.webp", WEBP, "image/webp")])
    uploads = stack.sim.state.requests_to(UPLOAD_PATH)
    assert sorted(base64.b64decode(u.json["content"]) for u in uploads) == sorted([PNG, JPEG, WEBP])
    ids = {f.data: f.file_id for f in stack.sim.state.files.values()}
    sent = f"put the hat of @{ids[JPEG]} on @{ids[PNG]}"
    (chat,) = stack.sim.state.requests_to(CHAT_PATH)
    assert chat.json["message"] == sent
    assert stack.sim.state.requests_to(MEDIA_POST_PATH)[0].json["prompt"] == sent
    refs = chat.json["responseMetadata"]["modelConfigOverride"]["modelMap"][
        "imageEditModelConfig"]["imageReferences"]
    assert [ref.rsplit("/", 2)[1] for ref in refs] == [ids[PNG], ids[JPEG], ids[WEBP]]
    assert [base64.b64decode(d.b64_json) for d in r.data] == [drawn(sent, 0), drawn(sent, 1)]
    assert all(d.url is None for d in r.data)


async def test_raw_multipart_with_image_brackets(stack):
    """curl-style `image[]` fields, `base64` as the older name of `b64_json`."""
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    form = aiohttp.FormData()
    form.add_field("model", MODEL)
    form.add_field("prompt", "two cats")
    form.add_field("response_format", "base64")
    form.add_field("image[]", PNG, filename="one.png", content_type="image/png")
    # the declared type is not what decides: the bytes are a JPEG
    form.add_field("image[]", JPEG, filename="two.bin", content_type="application/octet-stream")
    async with stack.http() as http:
        async with http.post("/v1/images/edits", data=form) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
    assert [base64.b64decode(d["b64_json"]) for d in body["data"]] == [drawn("two cats")]
    assert "moderated" not in body
    files = sorted((f.mime, f.data) for f in stack.sim.state.files.values())
    assert files == [("image/jpeg", JPEG), ("image/png", PNG)]


async def test_newer_payload_generation(stack):
    """`media_gen_input`: Imagine uploads (multipart with file_source), no media post, the
    uploads' ids as input assets, Referer /imagine."""
    await stack.start_gateway(GROK_UPSTREAM_IMAGE_EDIT_PAYLOAD="media_gen_input")
    stack.add_account("tok-a", "super")
    r = await stack.openai().images.edit(
        model=MODEL, prompt="@IMAGE1 in the snow", response_format="b64_json",
        image=("cat.png", PNG, "image/png"))
    assert stack.sim.state.requests_to(UPLOAD_PATH) == []
    assert stack.sim.state.requests_to(MEDIA_POST_PATH) == []
    (upload,) = stack.sim.state.requests_to(UPLOAD_V2_PATH)
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file_source"\r\n\r\nIMAGINE_SELF_UPLOAD_FILE_SOURCE' in upload.body
    assert upload.headers["referer"] == "https://grok.com/imagine" and PNG in upload.body
    (file,) = stack.sim.state.files.values()
    (chat,) = stack.sim.state.requests_to(CHAT_PATH)
    sent = f"@{file.file_id} in the snow"
    assert chat.json["mediaGenInput"] == {"imageToImage": {"prompt": sent,
                                                           "inputAssets": [file.file_id]}}
    assert "responseMetadata" not in chat.json
    assert chat.headers["referer"] == "https://grok.com/imagine"
    assert [base64.b64decode(d.b64_json) for d in r.data] == [drawn(sent)]


async def test_stream_gives_partial_and_completed_events(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stream = await stack.openai().images.edit(
        model=MODEL, prompt="a red door", n=2, response_format="b64_json", stream=True,
        image=("door.png", PNG, "image/png"))
    events = [ev async for ev in stream]
    kinds = [ev.type for ev in events]
    assert "image_edit.partial_image" in kinds
    completed = [ev for ev in events if ev.type == "image_edit.completed"]
    assert sorted(ev.index for ev in completed) == [0, 1]
    got = {ev.index: base64.b64decode(ev.b64_json) for ev in completed}
    assert got == {0: drawn("a red door", 0), 1: drawn("a red door", 1)}
    assert kinds.index("image_edit.partial_image") < kinds.index("image_edit.completed")


async def test_partly_moderated_gives_fewer_images_and_says_so(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    prompt = "a beach [[sim moderated=1]]"
    form = aiohttp.FormData()
    form.add_field("prompt", prompt)
    form.add_field("n", "2")
    form.add_field("response_format", "b64_json")
    form.add_field("image", PNG, filename="beach.png", content_type="image/png")
    async with stack.http() as http:
        async with http.post("/v1/images/edits", data=form) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
    assert [base64.b64decode(d["b64_json"]) for d in body["data"]] == [drawn(prompt, 0)]
    assert body["moderated"] == 1
    # a moderated slot is the upstream's answer: the edit is not asked for again
    assert len(stack.sim.state.requests_to(CHAT_PATH)) == 1


async def test_fully_moderated_is_a_content_policy_error(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().images.edit(model=MODEL, prompt="no [[sim moderated=all]]",
                                         image=("x.png", PNG, "image/png"))
    assert info.value.body["code"] == "content_policy_violation"
    assert stack.gateway.pool.get("tok-a").status == "active"


@pytest.mark.parametrize("path", [UPLOAD_PATH, MEDIA_POST_PATH])
async def test_failed_preparation_fails_over_to_another_account(stack, path):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    stack.add_account("tok-b", "super")
    stack.sim.state.inject("401", times=1, path=path)  # an invalid-credentials marker
    r = await stack.openai().images.edit(model=MODEL, prompt="a tree", response_format="b64_json",
                                         image=("t.png", PNG, "image/png"))
    assert [base64.b64decode(d.b64_json) for d in r.data] == [drawn("a tree")]
    (chat,) = stack.sim.state.requests_to(CHAT_PATH)
    failed = stack.sim.state.requests_to(path)[0].token
    assert chat.token != failed
    assert stack.gateway.pool.get(failed).status == "expired"
    # the edit referenced what was prepared on the account that served it
    (post,) = [p for p in stack.sim.state.posts.values() if p.token == chat.token]
    assert chat.json["responseMetadata"]["modelConfigOverride"]["modelMap"][
        "imageEditModelConfig"]["parentPostId"] == post.post_id


@pytest.mark.parametrize("chat_transport", ["mgw"])
async def test_edits_go_over_rest_whatever_the_chat_transport(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().images.edit(model=MODEL, prompt="a boat", response_format="b64_json",
                                         image=("b.png", PNG, "image/png"))
    assert [base64.b64decode(d.b64_json) for d in r.data] == [drawn("a boat")]
    assert len(stack.sim.state.requests_to(CHAT_PATH)) == 1 and stack.sim.state.mgw_sessions == []


async def test_edit_model_is_listed(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    models = [m.id async for m in stack.openai().models.list()]
    assert MODEL in models


# ---- bad input: a 400 naming the parameter, nothing sent upstream --------------------------
BIG = b"\x89PNG\r\n\x1a\n" + b"\x00" * (32 << 20)

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "mask": ({"mask": ("mask.png", PNG, "image/png")}, "mask"),
    "non-image": ({"image": ("notes.png", b"just some text", "image/png")}, "image.0"),
    "second file not an image": ({"image[]": [("a.png", PNG, "image/png"),
                                              ("b.gif", b"GIF89a....", "image/gif")]}, "image.1"),
    "empty file": ({"image": ("empty.png", b"", "image/png")}, "image.0"),
    "too many": ({"image[]": [(f"{i}.png", PNG, "image/png") for i in range(8)]}, "image"),
    "no image": ({"image": None}, "image"),
    "oversized": ({"image": ("big.png", BIG, "image/png")}, "image.0"),
    "n=3": ({"n": "3"}, "n"),
    "n=0": ({"n": "0"}, "n"),
    "n not a number": ({"n": "two"}, "n"),
    "size 512x512": ({"size": "512x512"}, "size"),
    "response_format gif": ({"response_format": "gif"}, "response_format"),
    "blank prompt": ({"prompt": "   "}, "prompt"),
    "no prompt": ({"prompt": None}, "prompt"),
    "chat model": ({"model": "grok-4.20-fast"}, "model"),
    "unknown model": ({"model": "dall-e-2"}, "model"),
}


def edit_form(changes: dict[str, Any]) -> aiohttp.FormData:
    fields: dict[str, Any] = {"model": MODEL, "prompt": "make it blue", **changes}
    if "image[]" not in changes:
        fields.setdefault("image", ("cat.png", PNG, "image/png"))
    form = aiohttp.FormData()
    for name, value in fields.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, tuple):
                filename, data, ctype = item
                form.add_field(name, data, filename=filename, content_type=ctype)
            else:
                form.add_field(name, item)
    return form


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_input_is_a_400_naming_the_parameter(stack, case):
    changes, param = BAD[case]
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    async with stack.http() as http:
        async with http.post("/v1/images/edits", data=edit_form(changes)) as resp:
            body = await resp.json()
            assert resp.status == 400, body
    assert body["error"]["param"] == param, body
    assert body["error"]["type"] == "validation_error"
    assert upstream(stack) == []
    acc = stack.gateway.pool.get("tok-a")
    assert acc.status == "active" and acc.inflight == 0 and acc.usage_fail_count == 0


async def test_sdk_mask_and_bad_size_are_400s(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    client = stack.openai()
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(model=MODEL, prompt="x", image=("a.png", PNG, "image/png"),
                                 mask=("m.png", PNG, "image/png"))
    assert info.value.body["param"] == "mask" and "not supported" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(model=MODEL, prompt="x", image=("a.png", PNG, "image/png"),
                                 size="512x512")
    assert info.value.body["param"] == "size"
    assert upstream(stack) == []


async def test_the_api_key_is_checked_before_the_body(stack):
    await stack.start_gateway(GROK_APP_API_KEY="sk-right")
    stack.add_account("tok-a", "super")
    async with stack.http() as http:
        async with http.post("/v1/images/edits", data=edit_form({"n": "9"}),
                             headers={"Authorization": "Bearer sk-wrong"}) as resp:
            assert resp.status == 401
        async with http.post("/v1/images/edits", json={"prompt": "x"},
                             headers={"Authorization": "Bearer sk-right"}) as resp:
            assert resp.status == 415
            assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert upstream(stack) == []


# ---- the edit model through /v1/chat/completions -------------------------------------------
def png_uri(data: bytes = PNG, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def test_chat_completions_with_the_edit_model(stack):
    """The images of the messages are uploaded and referenced like the endpoint's files; the
    answer shows the gateway's copy."""
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    r = await stack.openai().chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": [{"type": "text", "text": "give @IMAGE1 a red hat"},
                                     {"type": "image_url", "image_url": {"url": png_uri()}}]}])
    (file,) = stack.sim.state.files.values()
    assert file.data == PNG and file.mime == "image/png"
    (chat,) = stack.sim.state.requests_to(CHAT_PATH)
    sent = f"give @{file.file_id} a red hat"
    assert chat.json["message"] == sent
    link = r.choices[0].message.content.split("](", 1)[1].split(")", 1)[0]
    assert link.startswith(stack.url + "/v1/files/image?id=")
    status, data, _ = await fetch_plain(link)
    assert status == 200 and data == drawn(sent)


async def test_chat_completions_with_a_non_image_is_a_400_before_upstream(stack):
    await stack.start_gateway()
    stack.add_account("tok-a", "super")
    with pytest.raises(openai.BadRequestError) as info:
        await stack.openai().chat.completions.create(model=MODEL, messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "edit this"},
                {"type": "image_url", "image_url": {"url": png_uri(b"plain text", "image/png")}}]}])
    assert info.value.body["param"] == "messages" and info.value.body["code"] == "invalid_image"
    assert upstream(stack) == []
