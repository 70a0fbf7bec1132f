"""The continuation addon on a mock transport: what each attempt sends upstream, which
account serves it, and what is remembered for the next request. No network, no database."""
from __future__ import annotations

import time

import pytest

from addons import build_chain
from addons.services.catalogue import Catalogue
from addons.continuation import Continuation, new_messages
from addons.events import ConversationStarted, End, ResponseMeta, TextDelta, UpstreamFailure
from addons.flow import Attachment, ChatRequest, Continued, Flow, Message
from addons.pipeline import Pipeline
from addons.testflow import run_flow as run
from addons.testflow import text_of
from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.config import UpstreamConfig
from addons.upstream_request import ChatBuilder
from state.continuations import ContinuationEntry
from state.pool import AccountPool, Lease
from state.settings import Settings



class RecordingTransport(MockTransport):
    """Answers attempt N with script[N]; `payloads` are the JSON bodies it was sent."""

    def __init__(self, *script: MockResponse) -> None:
        super().__init__(MockTransport.script(*script).handler)

    @property
    def payloads(self) -> list[dict]:
        return [r.json for r in self.requests]


class MemoryStore:
    """The ContinuationStore interface, in a dict."""

    def __init__(self, *entries: ContinuationEntry, enabled: bool = True) -> None:
        self.entries = {e.response_id: e for e in entries}
        self.lookups: list[str] = []
        self.enabled = enabled

    async def get(self, response_id):
        self.lookups.append(response_id)
        return self.entries.get(response_id)

    def record(self, entry):
        self.entries[entry.response_id] = entry


def answer(text: str, conversation: str = "conv_new", response: str = "up_new") -> MockResponse:
    return MockResponse(200, [[ConversationStarted(conversation)], [TextDelta(text)],
                                [ResponseMeta(response_id=response), End()]])


def entry(token: str, rid: str = "resp_prev") -> ContinuationEntry:
    return ContinuationEntry(rid, token, "conv_1", "up_1", "grok-4.20-fast",
                             int(time.time() * 1000))


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={"GROK_RETRY_BACKOFF_BASE_MS": "0"})


def setup(settings, transport, store, *tokens, enabled=True):
    pool = AccountPool(None)
    for t in tokens:
        pool.add(t, pool="basic")
    chain = build_chain(settings=settings, pool=pool, catalogue=Catalogue(settings), ledger=None,
                        continuations=store)
    chain.get(Continuation).bind(enabled)
    return Pipeline(chain, transport, settings), pool


HISTORY = [Message("system", ["Be brief."]), Message("user", ["Hi"]),
           Message("assistant", ["Hello!"]), Message("user", ["What is 2+2?"])]


def responses_flow(messages=None, previous=None, store=True, rid="resp_next"):
    req = ChatRequest(model="grok-4.20-fast", messages=list(messages or HISTORY), stream=False,
                      store=store, previous_response_id=previous)
    return Flow(request=req, dialect="openai.responses", id=rid)


FULL = "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?"


async def test_a_stored_answer_is_not_temporary_and_is_remembered(settings):
    store = MemoryStore()
    transport = RecordingTransport(answer("4"))
    pipeline, _ = setup(settings, transport, store, "a")
    flow = responses_flow(rid="resp_1")
    assert text_of(await run(pipeline, flow)) == "4"
    (payload,) = transport.payloads
    assert payload["temporary"] is False and "conversationId" not in payload
    saved = store.entries["resp_1"]
    assert (saved.token, saved.conversation_id, saved.upstream_response_id, saved.model) == (
        "a", "conv_new", "up_new", "grok-4.20-fast")
    assert saved.created_at == flow.created * 1000


async def test_follow_up_is_pinned_and_sends_only_the_new_messages(settings):
    store = MemoryStore(entry("b"))
    transport = RecordingTransport(answer("5", conversation="conv_1", response="up_2"))
    pipeline, pool = setup(settings, transport, store, "a", "b")
    pool.get("b").window("fast").remaining = 1  # normal selection would take "a"
    flow = responses_flow(previous="resp_prev", rid="resp_2")
    await run(pipeline, flow)
    assert transport.tokens == ["b"]
    (payload,) = transport.payloads
    assert payload["message"] == "[user]: What is 2+2?"
    assert (payload["conversationId"], payload["parentResponseId"]) == ("conv_1", "up_1")
    assert flow.prompt == FULL  # usage still counts the whole conversation
    assert store.entries["resp_2"].conversation_id == "conv_1"
    assert store.entries["resp_2"].upstream_response_id == "up_2"
    assert pool.count_inflight() == 0


async def test_only_new_input_openai_style_is_sent_whole(settings):
    store = MemoryStore(entry("a"))
    transport = RecordingTransport(answer("ok"))
    pipeline, _ = setup(settings, transport, store, "a")
    await run(pipeline, responses_flow([Message("user", ["And 3+3?"])], previous="resp_prev"))
    assert transport.payloads[0]["message"] == "[user]: And 3+3?"
    assert transport.payloads[0]["conversationId"] == "conv_1"


async def test_unknown_id_falls_back_to_the_full_history(settings):
    store = MemoryStore()
    transport = RecordingTransport(answer("4"))
    pipeline, _ = setup(settings, transport, store, "a")
    await run(pipeline, responses_flow(previous="resp_unknown"))
    (payload,) = transport.payloads
    assert payload["message"] == FULL and "conversationId" not in payload
    assert store.lookups == ["resp_unknown"]


@pytest.mark.parametrize("spoil", ["expired", "deleted", "disabled", "runtime_expired"])
async def test_unusable_account_falls_back_to_another_with_full_history(settings, spoil):
    store = MemoryStore(entry("b"))
    transport = RecordingTransport(answer("4"))
    pipeline, pool = setup(settings, transport, store, "a", "b")
    if spoil == "expired":
        pool.on_invalid_credentials("b", "token expired")
    elif spoil == "deleted":
        pool.delete("b")
    elif spoil == "disabled":
        pool.disable("b")
    else:
        pool.on_unauthorized("b")
    await run(pipeline, responses_flow(previous="resp_prev"))
    assert transport.tokens == ["a"]
    assert transport.payloads[0]["message"] == FULL
    assert "conversationId" not in transport.payloads[0]


async def test_pin_that_cannot_be_leased_falls_back(settings):
    store = MemoryStore(entry("b"))
    transport = RecordingTransport(answer("4"))
    pipeline, pool = setup(settings, transport, store, "a", "b")
    pool.get("b").window("fast").remaining = 0  # usable, but no quota for this mode
    await run(pipeline, responses_flow(previous="resp_prev"))
    assert transport.tokens == ["a"] and transport.payloads[0]["message"] == FULL
    assert "parentResponseId" not in transport.payloads[0]


async def test_failed_continuation_retries_with_the_full_history(settings):
    store = MemoryStore(entry("a"))
    gone = MockResponse(200, [[UpstreamFailure(502, "Upstream stream error: no conversation")]])
    transport = RecordingTransport(gone, answer("4"))
    pipeline, _ = setup(settings, transport, store, "a")  # one account: it serves the retry
    events = await run(pipeline, responses_flow(previous="resp_prev", rid="resp_3"))
    assert text_of(events) == "4"
    assert transport.tokens == ["a", "a"]
    first, second = transport.payloads
    assert first["conversationId"] == "conv_1"
    assert second["message"] == FULL and "conversationId" not in second
    assert store.entries["resp_3"].conversation_id == "conv_new"


async def test_store_false_keeps_temporary_and_remembers_nothing(settings):
    store = MemoryStore()
    transport = RecordingTransport(answer("4"))
    pipeline, _ = setup(settings, transport, store, "a")
    await run(pipeline, responses_flow(store=False, rid="resp_4"))
    assert transport.payloads[0]["temporary"] is True  # features.temporary
    assert store.entries == {}


@pytest.mark.parametrize("transport_continues,ttl_on", [(False, True), (True, False)])
async def test_rest_transport_or_zero_ttl_never_continues(settings, transport_continues, ttl_on):
    store = MemoryStore(entry("a"), enabled=ttl_on)
    transport = RecordingTransport(answer("4"))
    pipeline, _ = setup(settings, transport, store, "a", enabled=transport_continues)
    await run(pipeline, responses_flow(previous="resp_prev", rid="resp_5"))
    (payload,) = transport.payloads
    assert payload["message"] == FULL and payload["temporary"] is True
    assert "conversationId" not in payload and store.lookups == [] and "resp_5" not in store.entries


def test_new_messages_and_old_attachments_are_dropped():
    img = Attachment("image", "data:image/png;base64,AAAA")
    messages = [Message("user", ["look"], [img]), Message("assistant", ["a cat"]),
                Message("user", ["and this?"], [img])]
    assert new_messages(messages) == (2, messages[2:])
    pool = AccountPool(None)
    pool.add("a")
    flow = Flow(request=ChatRequest(model="m", messages=messages))
    flow.lease = Lease(pool.get("a"), "fast")
    flow.keep_conversation = True
    flow.continued = Continued("a", "conv_1", "up_1", "[user]: and this?",
                               old_files=1)  # the attachment of the first message
    flow.attempt.mode = "fast"
    flow.attempt.file_ids = ["f1", "f2"]
    Continuation(pool, MemoryStore()).attempt(flow)
    payload = ChatBuilder().build(flow, UpstreamConfig()).json
    assert flow.attempt.continued
    assert payload["fileAttachments"] == ["f2"]
    assert payload["message"] == "[user]: and this?"
    assert payload["temporary"] is False and payload["conversationId"] == "conv_1"
