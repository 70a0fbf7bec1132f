"""A media job through the real addon chain and pipeline (a mock transport mounted for its
kind): the chat-only addons leave it alone, results end the answer, an all-moderated answer
is the client's 400 with no account penalised, and a transform that rejects a media file
fails the try over to another account."""
from __future__ import annotations

import pytest

import addons.upstream_request as upstream_request
from addons import build_chain
from addons.errors import ApiError
from addons.events import EMPTY_RESPONSE, End, MediaModerated, MediaProgress, MediaResult, UpstreamFailure
from addons.flow import Flow
from addons.jobs import ImageRequest
from addons.pipeline import Pipeline
from addons.services import catalogue as catalogue_module
from addons.services.catalogue import Catalogue
from addons.testflow import run_flow
from addons.upstream.mock import MockResponse, MockTransport, sso_token
from addons.upstream.router import TransportRouter
from addons.upstream.wire import UpstreamRequest
from state.pool import AccountPool
from state.settings import Settings

RESULT = MediaResult("image", 0, "https://assets.example/a.jpg", blob=b"jpeg")


class ImageBuilder:
    def prepare(self, flow: Flow) -> None:
        flow.prompt = flow.request.prompt

    def build(self, flow: Flow, cfg) -> UpstreamRequest:
        return UpstreamRequest("GET", "wss://imagine.example", {"Cookie": f"sso={flow.lease.token}"},
                               kind="image")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue_module, "SERVED_CAPABILITIES", frozenset({"chat", "image"}))
    monkeypatch.setitem(upstream_request.BUILDERS, "image", ImageBuilder())
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def setup(settings, transport, *tokens, chain_extra=()):
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool="super")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None)
    chain.addons.extend(chain_extra)
    chain.__init__(chain.addons)
    router = TransportRouter({"chat": MockTransport.script(), "image": transport})
    return Pipeline(chain, router, settings), pool


def image_flow(prompt: str = "a cat") -> Flow:
    return Flow(request=ImageRequest(model="grok-imagine-image", prompt=prompt, stream=False),
                client_headers={})


def answer(*events) -> MockResponse:
    return MockResponse(batches=[list(events), [End()]])


async def test_a_media_job_passes_the_chat_addons_and_ends_with_its_results(settings):
    transport = MockTransport.script(answer(MediaProgress("image", 0, 40), RESULT))
    pipeline, _ = setup(settings, transport, "tok-a")
    events = await run_flow(pipeline, image_flow())
    assert RESULT in events and type(events[-1]) is End


async def test_every_slot_moderated_is_a_400_and_the_account_is_untouched(settings):
    transport = MockTransport.script(answer(MediaModerated("image", 0), MediaModerated("image", 1)))
    pipeline, pool = setup(settings, transport, "tok-a", "tok-b")
    with pytest.raises(ApiError) as err:
        await run_flow(pipeline, image_flow())
    assert (err.value.status, err.value.code) == (400, "content_policy_violation")
    assert len(transport.requests) == 1  # no other account was tried
    assert all(a.status == "active" and a.consecutive_failures == 0 and not a.last_fail_reason
               for a in pool.all())


class RejectFirst:
    """A transform that rejects the first media file it sees (as a stale-media check would)."""

    def __init__(self) -> None:
        self.seen = 0

    def transform(self, flow):
        outer = self

        class Rejecting:
            def chunk(self, ev):
                if type(ev) is MediaResult:
                    outer.seen += 1
                    if outer.seen == 1:
                        return [UpstreamFailure(502, "the same image as another prompt",
                                                code=EMPTY_RESPONSE)]
                return [ev]
        return Rejecting()


async def test_a_transform_that_rejects_a_media_file_fails_over_to_another_account(settings):
    transport = MockTransport.script(answer(RESULT), answer(RESULT))
    pipeline, _ = setup(settings, transport, "tok-a", "tok-b", chain_extra=[RejectFirst()])
    events = await run_flow(pipeline, image_flow())
    assert RESULT in events
    assert len({sso_token(r) for r in transport.requests}) == 2
