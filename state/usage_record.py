"""The facts of one served request, as usage accounting and the request audit keep them."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RequestRecord", "status_class"]


@dataclass(slots=True)
class RequestRecord:
    at: int  # ms since the epoch, when the request arrived
    request_id: str
    key: str  # a managed key's id, or the name of an unmanaged client ("app", "open")
    key_name: str
    model: str
    endpoint: str  # the dialect: openai.chat, openai.responses, anthropic.messages, …
    account: str = ""  # the serving account, masked; "" when none served
    tier: str = ""  # its pool
    status: int = 200  # what the client got (499: the client went away)
    error_code: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    ttft_ms: int | None = None  # first content byte of a stream
    duration_ms: int = 0
    stream: bool = False
    failovers: int = 0  # tries beyond the first
    prompt: str | None = None  # only with audit.store_content
    answer: str | None = None


def status_class(status: int) -> str:
    """`2xx`, `4xx`, `5xx`, …"""
    return f"{status // 100}xx"
