"""The Flow: one per client request, carried through every addon hook.

State has two lifetimes, and each has its own object:
- the flow (this class) lives as long as the client request: the job, the key, the model, the
  accounts tried, the outcome;
- an `Attempt` lives for one try at the upstream on one account. The pipeline makes a fresh
  one for every try, so nothing a failed try saw (its request, its answer, its failure, the
  stream transforms' buffers) survives into the next.

What one addon tells another is a typed field here, never a dict entry. An addon's private
flow-lifetime state may sit in `flow.metadata[<addon name>]`; one addon instance serves
every concurrent request, so nothing per request is kept on the addon itself.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from addons.jobs import Attachment, ChatRequest, JobRequest, Message, ToolSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from addons.chain import Transforms
    from addons.errors import ApiError
    from addons.events import Event, UpstreamFailure
    from addons.services.catalogue import ModelSpec
    from addons.upstream.base import UpstreamStream
    from addons.upstream.image_edit import EditInputs
    from addons.upstream.wire import UpstreamRequest
    from state.keys import Scope
    from state.pool import Lease

__all__ = ["Attachment", "Attempt", "ChatRequest", "ClientKey", "Continued", "Flow", "JobRequest", "Message",
           "ToolSpec", "Usage", "new_id"]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ClientKey:
    """Who a request comes from, as usage, audit and metrics name it: a managed client key
    (`id`, its `name`), or a key of `app.api_key` / open mode (`id` None). Never the key
    itself."""

    id: str | None
    name: str


@dataclass(slots=True)
class Continued:
    """An upstream conversation this flow continues (set by the continuation addon).

    The request builder sends only `prompt` on that conversation while the attempt runs on
    the account `token`; once a continued attempt has failed (`abandoned`) every later attempt
    sends the full history."""

    token: str
    conversation_id: str
    upstream_response_id: str
    prompt: str  # the new messages only, flattened, tool block included
    old_files: int  # attachments of the messages before the new ones
    abandoned: bool = False


@dataclass(slots=True)
class Attempt:
    """One try at the upstream on one account; made fresh by the pipeline for every try."""

    number: int
    mode: str | None = None  # the quota mode the account was leased for
    request: UpstreamRequest | None = None  # what is sent (built by the request builder)
    answer: UpstreamStream | None = None  # the upstream's answer, once its status is 200
    status: int | None = None
    failure: UpstreamFailure | None = None  # why this try failed, if it did
    #: the breaker blames the failure on grok.com or the egress as a whole, not the account
    upstream_wide: bool = False
    retry: bool = False  # the retry addon asks for another try
    retry_delay: float = 0.0  # seconds to wait before it
    file_ids: list[str] = field(default_factory=list)  # attachments uploaded to this account
    #: the media post a video hangs from, made on this account (the video posts addon)
    parent_post_id: str | None = None
    #: content URLs of the reference images uploaded to this account (image-to-video)
    media_refs: list[str] = field(default_factory=list)
    continued: bool = False  # this try continues `flow.continued` on its account
    #: an image edit's uploads and media post on this account (the image-edit addon)
    edit: EditInputs | None = None
    #: what was done about the egress after this try was refused by grok.com's edge (a fresh
    #: `x-statsig-id` after an anti-bot refusal, a newly solved Cloudflare clearance after a
    #: challenge), so the same account may try again; None when nothing was
    remedy: str | None = None
    transforms: Transforms | None = None  # the stream addons' per-try state


def new_id(prefix: str, hex_len: int = 8) -> str:
    """`<prefix><milliseconds><hex>`: sortable by time, unique enough per process."""
    return f"{prefix}{int(time.time() * 1000)}{os.urandom(hex_len // 2 + 1).hex()[:hex_len]}"


@dataclass(slots=True)
class Flow:
    #: the job; None until the body is parsed (the `requestheaders` hooks run before that)
    request: JobRequest | None = None
    client_headers: Mapping[str, str] = field(default_factory=dict)
    dialect: str = "openai.chat"
    id: str = field(default_factory=lambda: new_id("chatcmpl-"))
    created: int = field(default_factory=lambda: int(time.time()))
    #: `time.perf_counter()` when the flow was made (durations without a request scope)
    started: float = field(default_factory=time.perf_counter)
    # resolved by the request-side hooks
    api_key: str | None = None
    #: the client's identity for usage, audit and metrics (set by auth / the keys addon)
    client: ClientKey | None = None
    #: the accounts that may serve this flow (a managed key's scope: pools and tags); None =
    #: any (set by the keys addon, honoured by the account selector)
    account_scope: Scope | None = None
    #: media of this flow may be NSFW (a managed key's policy; the media builders turn
    #: `enable_nsfw` off when False)
    nsfw_allowed: bool = True
    model: ModelSpec | None = None
    prompt: str = ""  # the flattened upstream prompt of a chat
    pinned_token: str | None = None  # the account the first attempt should use, if it can
    continued: Continued | None = None
    keep_conversation: bool = False  # the upstream conversation must not be temporary
    #: grok.com's anti-bot rules refused an `x-statsig-id` of this flow: every later try sends
    #: a freshly generated one (even when a fixed one is configured), and no second remedy
    statsig_renewed: bool = False
    # across attempts
    attempt: Attempt = field(default_factory=lambda: Attempt(0))
    tried: list[str] = field(default_factory=list)  # accounts leased so far, in order
    lease: Lease | None = None  # the account lease held now (the accounts addon swaps it)
    last_error: ApiError | None = None  # what ends the flow if no account is left to try
    # outcome
    committed: bool = False  # a first content byte went to the client: no failover after it
    #: `time.perf_counter()` when a stream committed (its first content left): the TTFT
    committed_at: float | None = None
    reply: list[Event] | None = None  # set by a request hook: answer with these, no upstream
    error: ApiError | None = None
    finish_reason: str = "stop"
    stop_sequence: str | None = None  # the stop sequence that ended the answer, if one did
    usage: Usage = field(default_factory=Usage)
    metadata: dict[str, Any] = field(default_factory=dict)
