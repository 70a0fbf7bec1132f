"""The image-edit addon on the real chain and pipeline with an in-memory upstream: the images
prepared on each leased account (uploads, media post), a failed preparation failing over, an
image grok.com refuses being the client's 400."""
from __future__ import annotations

import base64

import pytest

from addons import build_chain
from addons.errors import ApiError
from addons.events import End, MediaResult
from addons.flow import Flow
from addons.image_edit_inputs import ImageEditInputs
from addons.jobs import Attachment, ImageEditRequest
from addons.pipeline import Pipeline
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow
from addons.upstream.image_edit_transport import ImageEditTransport
from addons.upstream.mock import MockResponse, MockTransport, sso_token
from addons.upstream.router import TransportRouter
from state.pool import AccountPool
from state.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n-fake-png"
INVALID_CREDS = b'{"error":{"code":16,"message":"Invalid credentials [WKE=unauthorized:invalid-credentials]"}}'


class Upstream(MockTransport):
    """Uploads, media posts and edit chats on one mock; `faults[path part]` answers the
    first call of that kind."""

    def __init__(self, **faults: tuple[int, bytes | str]) -> None:
        super().__init__(self.answer)
        self.calls: list[tuple[str, str, object]] = []  # (kind, account, body)
        self.faults = faults

    def answer(self, req) -> MockResponse:
        kind = ("upload" if "upload-file" in req.url else
                "post" if "media/post" in req.url else "chat")
        token = sso_token(req)
        self.calls.append((kind, token, req.json if req.json is not None else req.body))
        fault = self.faults.pop(kind, None)
        if fault is not None:
            return MockResponse(fault[0], body=fault[1])
        n = len(self.calls)
        if kind == "upload":
            if req.body is not None:  # the multipart upload of the newer generation
                return MockResponse.json({"fileMetadata": {"fileMetadataId": f"{token}-f{n}"}})
            return MockResponse.json({"fileMetadataId": f"{token}-f{n}",
                                      "fileUri": f"users/{token}/{token}-f{n}/content"})
        if kind == "post":
            return MockResponse.json({"post": {"id": f"{token}-post{n}"}})
        return MockResponse(200, [[MediaResult("image", 0, f"https://a/{token}.jpg")], [End()]])

    def of(self, kind: str) -> list[tuple[str, object]]:
        return [(t, b) for k, t, b in self.calls if k == kind]


def setup(tmp_path, upstream, *tokens, **env):
    settings = Settings(tmp_path / "config.toml",
                        environ={"GROK_RETRY_BACKOFF_BASE_MS": "0", **env})
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool="super")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    chain.get(ImageEditInputs).bind(upstream)
    router = TransportRouter({"chat": upstream, "image_edit": ImageEditTransport(upstream)})
    return Pipeline(chain, router, settings), pool


def edit_flow(prompt: str = "swap @IMAGE2 and @IMAGE1", images: int = 2) -> Flow:
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    job = ImageEditRequest(model="grok-imagine-image-edit", prompt=prompt,
                           images=[Attachment("image", uri, f"{i}.png") for i in range(images)])
    return Flow(request=job, dialect="openai.images")


async def test_a_failed_edit_prepares_again_on_the_next_account(tmp_path):
    upstream = Upstream(chat=(429, "Too many requests"))
    pipeline, pool = setup(tmp_path, upstream, "a", "b")
    events = await run_flow(pipeline, edit_flow())
    (first, _), (second, payload) = upstream.of("chat")
    assert first != second
    assert [ev.url for ev in events if type(ev) is MediaResult] == [f"https://a/{second}.jpg"]
    # each account got its own uploads and post, and its edit names only its own
    assert sorted(t for t, _ in upstream.of("upload")) == sorted([first, first, second, second])
    ids = [c for c in upstream.calls if c[0] == "upload" and c[1] == second]
    posts = [body for t, body in upstream.of("post") if t == second]
    config = payload["responseMetadata"]["modelConfigOverride"]["modelMap"]["imageEditModelConfig"]
    assert all(ref.startswith(f"https://assets.grok.com/users/{second}/") for ref in
               config["imageReferences"]) and len(config["imageReferences"]) == len(ids) == 2
    assert config["parentPostId"].startswith(f"{second}-post")
    assert posts[0]["prompt"] == payload["message"]
    assert payload["message"].startswith(f"swap @{second}-f") and "@IMAGE" not in payload["message"]
    assert pool.count_inflight() == 0


@pytest.mark.parametrize("kind", ["upload", "post"])
async def test_a_failed_preparation_fails_over_without_a_chat(tmp_path, kind):
    upstream = Upstream(**{kind: (401, INVALID_CREDS)})
    pipeline, pool = setup(tmp_path, upstream, "a", "b")
    await run_flow(pipeline, edit_flow(images=1))
    failed = upstream.of(kind)[0][0]
    ((served, _),) = upstream.of("chat")
    assert served != failed
    assert pool.get(failed).status == "expired" and pool.get(served).status == "active"


async def test_a_failed_preparation_on_the_last_account_is_an_upstream_error(tmp_path):
    upstream = Upstream(post=(500, b'{"error":"internal"}'))
    pipeline, pool = setup(tmp_path, upstream, "a")
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, edit_flow(images=1))
    assert info.value.status == 502 and "internal" not in info.value.message
    assert upstream.of("chat") == [] and pool.count_inflight() == 0


async def test_newer_generation_uploads_for_imagine_and_makes_no_post(tmp_path):
    upstream = Upstream()
    pipeline, _ = setup(tmp_path, upstream, "a",
                        GROK_UPSTREAM_IMAGE_EDIT_PAYLOAD="media_gen_input")
    await run_flow(pipeline, edit_flow("@IMAGE1 at night", images=1))
    ((_, body),) = upstream.of("upload")
    assert b"IMAGINE_SELF_UPLOAD_FILE_SOURCE" in body and PNG in body
    assert upstream.of("post") == []
    ((_, payload),) = upstream.of("chat")
    (asset,) = payload["mediaGenInput"]["imageToImage"]["inputAssets"]
    assert payload["message"] == f"@{asset} at night"


async def test_an_image_grok_refuses_is_the_clients_400(tmp_path):
    upstream = Upstream()
    upstream.faults["upload"] = (200, b'{"terminalError":{"code":"INVALID_FILE"}}')
    pipeline, pool = setup(tmp_path, upstream, "a",
                           GROK_UPSTREAM_IMAGE_EDIT_PAYLOAD="media_gen_input")
    with pytest.raises(ApiError) as info:
        await run_flow(pipeline, edit_flow(images=1))
    assert (info.value.status, info.value.param, info.value.code) == (400, "image",
                                                                       "image_rejected")
    acc = pool.get("a")
    assert upstream.of("chat") == [] and acc.status == "active" and acc.inflight == 0
