"""Conversation continuation for the Responses API (`previous_response_id`, api-surface §4.3).

A stored answer (`store`, default true) is remembered as `resp_… → (account, upstream
conversation id, upstream response id, model, created)` (`state/continuations.py`). A
follow-up naming it is pinned to that account and sends only what is new — the messages after
the last assistant turn of its input — on the same upstream conversation: the mgw transport
turns the payload keys `conversationId` / `parentResponseId` into `load_existing` /
`parent_response_id` (protocol §3.3).

Everything else falls back to the full history the client sent, never to an error: an unknown
or expired id, an account that is deleted, expired or not active, a pin that cannot be leased
(no quota, in-flight cap), or a continued attempt that fails before any content (the retry
then resends the full history; the same account may serve it unless it failed for account
reasons). The protocol documents no REST follow-up endpoint (E1 only creates conversations),
so continuation is mgw-only: over REST (`bind(False)`) the addon does nothing and `store`
does not change `temporary`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from addons.accounts import PINNED_TOKEN
from addons.events import ConversationStarted, Event, ResponseMeta
from addons.flow import Flow, Message
from addons.tools.prompt import with_tool_block
from addons.upstream.prompt import flatten
from state.continuations import ContinuationEntry, ContinuationStore

log = logging.getLogger(__name__)

NAME = "continuation"
#: Failures that speak about the account, not the conversation: the fallback leaves it.
ACCOUNT_STATUSES = frozenset({401, 403, 429})


@dataclass(slots=True)
class _State:
    store: bool  # record this answer for a later continuation
    entry: ContinuationEntry | None = None  # what this request continues, if anything
    prompt: str = ""  # the new messages only, flattened (with the tool block)
    old_files: int = 0  # attachments of the messages before the new ones
    continued: bool = False  # the current attempt continues `entry`
    abandoned: bool = False  # a continued attempt failed: full history from now on
    conversation_id: str | None = None  # seen in this attempt's stream
    response_id: str | None = None


def new_messages(messages: list[Message]) -> tuple[int, list[Message]]:
    """(index of the first new message, the new messages): everything after the last
    assistant message. A client that sends only the new input (OpenAI style) has no assistant
    message, so all of it is new; one that resends the history gets its tail."""
    cut = 0
    for i, msg in enumerate(messages):
        if msg.role == "assistant":
            cut = i + 1
    return cut, messages[cut:]


class Continuation:
    """One line in the chain, after the upstream request builder (its `attempt` edits the
    payload that addon built)."""

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

    # ---- request: look the id up once ---------------------------------------------------
    async def request(self, flow: Flow) -> None:
        req = flow.request
        if not self.active or not (req.store or req.previous_response_id):
            return
        state = flow.metadata[NAME] = _State(store=req.store)
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
        state.entry = entry
        state.prompt = with_tool_block(prompt, req)
        state.old_files = sum(len(m.attachments) for m in req.messages[:cut])
        flow.metadata[PINNED_TOKEN] = entry.token

    # ---- attempt: continue only on the pinned account -------------------------------------
    def attempt(self, flow: Flow) -> None:
        state: _State | None = flow.metadata.get(NAME)
        if state is None or flow.upstream is None or flow.lease is None:
            return
        state.conversation_id = state.response_id = None
        payload = flow.upstream.json
        if state.store:
            payload["temporary"] = False  # a temporary conversation cannot be continued
        entry = state.entry
        state.continued = (entry is not None and not state.abandoned
                           and flow.lease.token == entry.token)
        if not state.continued:
            return
        payload["message"] = state.prompt
        payload["conversationId"] = entry.conversation_id
        payload["parentResponseId"] = entry.upstream_response_id
        # the attachments addon uploads the files of every message, in message order
        payload["fileAttachments"] = list(payload.get("fileAttachments") or [])[state.old_files:]

    def responseheaders(self, flow: Flow) -> None:
        """Runs after the retry addon. A continued attempt that failed (the conversation may
        be gone upstream) is retried once with the full history."""
        state: _State | None = flow.metadata.get(NAME)
        if state is None or not state.continued or flow.failure is None:
            return
        state.abandoned = True
        if flow.failure.status not in ACCOUNT_STATUSES and flow.lease is not None:
            token = flow.lease.token
            flow.tried = [t for t in flow.tried if t != token]  # the account itself is fine
        if not flow.retry:
            flow.retry = True
            flow.error = None

    # ---- stream: note the upstream ids ----------------------------------------------------
    def chunk(self, flow: Flow, event: Event) -> list[Event]:
        cls = type(event)
        if cls is ConversationStarted or cls is ResponseMeta:
            state: _State | None = flow.metadata.get(NAME)
            if state is not None:
                if cls is ConversationStarted:
                    state.conversation_id = event.conversation_id
                elif event.response_id:
                    state.response_id = event.response_id
        return [event]

    def response(self, flow: Flow) -> None:
        state: _State | None = flow.metadata.get(NAME)
        if state is None or not state.store or flow.lease is None or self.store is None:
            return
        conversation = state.conversation_id
        if conversation is None and state.continued and state.entry is not None:
            conversation = state.entry.conversation_id
        if not conversation or not state.response_id:
            return
        model = flow.model.id if flow.model is not None else flow.request.model
        self.store.record(ContinuationEntry(flow.id, flow.lease.token, conversation,
                                       state.response_id, model, int(flow.created) * 1000))
