"""Neutral stream events.

Upstream parsers (REST NDJSON, later the mgw WebSocket) turn grok.com frames into these;
addons transform them; dialects render them. Nothing here knows a wire format.
Classes use __slots__: a long stream creates tens of thousands of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TextDelta:
    """A piece of answer text."""

    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of reasoning ("thinking") text."""

    text: str


@dataclass(slots=True)
class ToolCall:
    """One complete function call the model made (prompt-emulated tools, `addons/tools/`).

    `arguments` is compact JSON text. Calls of one answer are numbered from 0 by `index`."""

    id: str  # call_<ms><6 hex>
    name: str
    arguments: str
    index: int = 0


@dataclass(slots=True)
class SearchSources:
    """Web / X search results seen so far in this frame: dicts with url, title, type."""

    sources: list[dict[str, str]]


@dataclass(slots=True)
class CardAttachment:
    """A grok.com card (citation, searched image, generated image), decoded JSON."""

    card: dict[str, Any]


@dataclass(slots=True)
class Citation:
    """A `url_citation` of the answer: `text[start:end]` is its rendered marker (` [[n]](url)`).

    Offsets are character (code point) offsets into the visible answer text of the flow; the
    event follows the TextDelta that carries the marker."""

    url: str
    title: str
    start: int
    end: int


@dataclass(slots=True)
class ConversationStarted:
    """The upstream conversation id (first frame of a new conversation)."""

    conversation_id: str


@dataclass(slots=True)
class ResponseMeta:
    """Ids of the assistant turn, for continuation and logging."""

    response_id: str | None = None
    parent_response_id: str | None = None


@dataclass(slots=True)
class FinalMessage:
    """The assembled final answer (`modelResponse.message`); used only when nothing streamed."""

    text: str
    generated_image_urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MediaProgress:
    """Generation progress of one media slot (an image or a video) of the answer, 0–100.

    `preview` is a base64 JPEG of the slot so far when the upstream sends one (the imagine
    socket's earlier stages): never the final image."""

    kind: str  # image | video
    index: int
    progress: int
    preview: str | None = None


@dataclass(slots=True)
class MediaResult:
    """One finished, not moderated media file of the answer.

    `url` is the absolute upstream URL (readable only with the owning account's cookies
    unless it is on a public imagine host); `blob` holds the bytes when the upstream sent
    them inline (the imagine socket), so nothing needs downloading."""

    kind: str  # image | video | audio | transcript | voice_token
    index: int
    url: str
    blob: bytes | None = None
    thumbnail: str | None = None
    asset_id: str | None = None
    #: the media post that holds a video (an extension continues from it)
    post_id: str | None = None
    #: the type of `blob` when the upstream said it (console audio and transcriptions)
    content_type: str | None = None


@dataclass(slots=True)
class MediaModerated:
    """A media slot the upstream withheld (moderated): it never becomes a result."""

    kind: str
    index: int


@dataclass(slots=True)
class UpstreamFailure:
    """An in-band error inside a 200 stream, mapped to an HTTP-like status (429 or 502)."""

    status: int
    message: str
    body: str = ""
    #: What kind of failure, when the status alone does not say (`EMPTY_RESPONSE`).
    code: str = ""


#: `UpstreamFailure.code` of a 200 answer with no text, tool call or media: it fails over like
#: an upstream error.
EMPTY_RESPONSE = "empty_response"
#: `UpstreamFailure.code` of an answer that stopped before the upstream's end marker (the body
#: or the socket ended, or a frame was cut off): half an answer is never a complete one.
UPSTREAM_TRUNCATED = "upstream_truncated"
#: `UpstreamFailure.code` of a media file the account already returned for another prompt
#: (`addons/stale_media.py`): a stale result, failed over like an empty answer.
STALE_MEDIA = "stale_media"
#: Its message, wherever the truncation is noticed.
TRUNCATED_MESSAGE = "upstream answer ended before its end marker (truncated)"


@dataclass(slots=True)
class Heartbeat:
    """No upstream byte for a while; streaming dialects send an SSE comment."""


@dataclass(slots=True)
class Restart:
    """A retry discarded what an uncommitted attempt produced; buffering consumers reset."""


@dataclass(slots=True)
class End:
    """Upstream finished the answer. `finish_reason` is dialect-neutral: stop, tool_calls, …

    A transport yields it only when the upstream said the answer is whole (its end marker);
    a stream that stops without it is a truncation, never a complete answer."""

    finish_reason: str = "stop"


Event = (
    TextDelta | ReasoningDelta | ToolCall | SearchSources | CardAttachment | Citation
    | ConversationStarted | ResponseMeta | FinalMessage | MediaProgress | MediaResult
    | MediaModerated | UpstreamFailure | Heartbeat | Restart | End
)

#: Events whose delivery to a client means the client has seen content (commits the flow).
CONTENT_EVENTS = (TextDelta, ReasoningDelta, ToolCall)


def has_content(batch: list[Event]) -> bool:
    """The batch carries answer content (text, reasoning, a tool call), not only metadata."""
    return any(type(ev) in CONTENT_EVENTS for ev in batch)


def join_deltas(batch: list[Event]) -> list[Event]:
    """Adjacent text deltas (and adjacent reasoning deltas) of one upstream batch joined into
    one. grok.com sends a frame per token; whatever arrived together goes through the chain
    and the dialect as one piece, so their cost is per read, not per token."""
    if len(batch) < 2:
        return batch
    out: list[Event] = []
    run: list[str] = []
    run_cls: type | None = None
    for ev in batch:
        cls = type(ev)
        if cls is run_cls:
            run.append(ev.text)  # type: ignore[attr-defined]
            continue
        if run_cls is not None:
            out.append(run_cls(run[0] if len(run) == 1 else "".join(run)))
            run_cls = None
        if cls is TextDelta or cls is ReasoningDelta:
            run = [ev.text]  # type: ignore[attr-defined]
            run_cls = cls
        else:
            out.append(ev)
    if run_cls is not None:
        out.append(run_cls(run[0] if len(run) == 1 else "".join(run)))
    return out

