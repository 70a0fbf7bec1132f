"""Conversation continuation for the Responses API (`previous_response_id`).

A stored answer (`store`, default true) is remembered as `resp_… → (account, upstream
conversation id, upstream response id, model, created)` (`state/continuations.py`). A
follow-up naming it is pinned to that account and sends only what is new — the messages after
the last assistant turn of its input — on the same upstream conversation: the mgw transport
turns the payload keys `conversationId` / `parentResponseId` into `load_existing` /
`parent_response_id`.

This addon only decides; the request builder writes the payload. `request` looks the id up
once and sets `flow.continued` and `flow.pinned_token` (read by the accounts addon);
`attempt` marks the try that runs on the pinned account as `attempt.continued`; the stream
transform notes the upstream ids of the try's answer, and `response` records them.

Everything else falls back to the full history the client sent, never to an error: an unknown
or expired id, an account that is deleted, expired or not active, a pin that cannot be leased
(no quota, in-flight cap), or a continued try that fails before any content (the retry addon
then resends the full history). grok.com's REST chat has no follow-up call, so continuation
is mgw-only: over REST (`bind(False)`) the addon does nothing and `store` does not change
`temporary`.
"""
from __future__ import annotations

import logging
from typing import Any

from addons.events import ConversationStarted, Event, ResponseMeta
from addons.flow import Continued, Flow, Message
from addons.tools.prompt import with_tool_block
from addons.upstream.prompt import flatten
from state.continuations import ContinuationEntry, ContinuationStore

log = logging.getLogger(__name__)

NAME = "continuation"


def new_messages(messages: list[Message]) -> tuple[int, list[Message]]:
    """(index of the first new message, the new messages): everything after the last
    assistant message. A client that sends only the new input (OpenAI style) has no assistant
    message, so all of it is new; one that resends the history gets its tail."""
    cut = 0
    for i, msg in enumerate(messages):
        if msg.role == "assistant":
            cut = i + 1
    return cut, messages[cut:]


class UpstreamIds:
    """The upstream conversation and response ids one try's answer carried."""

    __slots__ = ("conversation_id", "response_id")

    def __init__(self) -> None:
        self.conversation_id: str | None = None
        self.response_id: str | None = None

    def chunk(self, event: Event) -> list[Event]:
        cls = type(event)
        if cls is ConversationStarted:
            self.conversation_id = event.conversation_id
        elif cls is ResponseMeta and event.response_id:
            self.response_id = event.response_id
        return [event]


class Continuation:
    """Runs after the accounts addon (it needs the lease) and before the request builder
    (which reads `attempt.continued`)."""

    def __init__(self, pool: Any, store: ContinuationStore | None = None) -> None:
        self.pool = pool
        self.store = store
        #: set by the services on start: the chat transport can continue a conversation
        self.enabled = False

    def bind(self, enabled: bool) -> None:
        """Called by the services once the chat transport is known."""
        self.enabled = enabled

    @property
    def active(self) -> bool:
        return self.enabled and self.store is not None and self.store.enabled

    async def request(self, flow: Flow) -> None:
        req = flow.request
        if not self.active or req.kind != "chat" or not (req.store or req.previous_response_id) \
                or (flow.model is not None and flow.model.console):  # stateless console: history is resent
            return
        flow.metadata[NAME] = None  # the current try's ids, once it is read
        flow.keep_conversation = req.store  # a temporary conversation cannot be continued
        if not req.previous_response_id:
            return
        entry = await self.store.get(req.previous_response_id)
        if entry is None:
            log.debug("previous_response_id %s unknown: full history", req.previous_response_id)
            return
        if not self.pool.usable(entry.token):
            log.debug("account of %s is not usable: full history", req.previous_response_id)
            return
        cut, new = new_messages(req.messages)
        prompt = flatten(new)
        if not prompt.strip():
            return
        flow.continued = Continued(
            token=entry.token, conversation_id=entry.conversation_id,
            upstream_response_id=entry.upstream_response_id,
            prompt=with_tool_block(prompt, req),
            old_files=sum(len(m.attachments) for m in req.messages[:cut]))
        flow.pinned_token = entry.token

    def attempt(self, flow: Flow) -> None:
        target = flow.continued
        flow.attempt.continued = (target is not None and not target.abandoned
                                  and flow.lease is not None and flow.lease.token == target.token)

    def transform(self, flow: Flow) -> UpstreamIds | None:
        if NAME not in flow.metadata:
            return None
        ids = flow.metadata[NAME] = UpstreamIds()
        return ids

    def response(self, flow: Flow) -> None:
        ids: UpstreamIds | None = flow.metadata.get(NAME)
        if ids is None or not flow.keep_conversation or flow.lease is None or self.store is None:
            return
        conversation = ids.conversation_id
        if conversation is None and flow.attempt.continued and flow.continued is not None:
            conversation = flow.continued.conversation_id
        if not conversation or not ids.response_id:
            return
        model = flow.model.id if flow.model is not None else flow.request.model
        self.store.record(ContinuationEntry(flow.id, flow.lease.token, conversation,
                                            ids.response_id, model, int(flow.created) * 1000))
