"""The request a transport sends. It lives below the transports (as httpx keeps `Request` below
its transports), so the grok.com client never imports the chain's `Flow`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from addons.upstream.clearance import Via


@dataclass(slots=True)
class UpstreamRequest:
    """One grok.com call, built per attempt by a request builder.

    `kind` names the job it serves (`chat`, `image`, …): the transport router picks the
    transport mounted for it."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    #: a raw body (e.g. multipart) sent as is instead of `json`; set Content-Type in `headers`
    body: bytes | None = None
    kind: str = "chat"
    #: how many results a media job asks for (the imagine socket runs rounds until it has
    #: them; the chat-based image path makes one call per image)
    count: int = 1
    #: what to send instead, on the same account and in the same try, when this request's
    #: transport cannot serve it (the imagine socket refused or broke: the chat-based path)
    fallback: UpstreamRequest | None = None
    #: set by the transport when it sends the request: the egress and the clearance it went
    #: with, so a challenge can be answered for that egress
    via: Via | None = None
