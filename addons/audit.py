"""The request recorder: at `finish`, the facts of the request (who, which model and
endpoint, which account tier, how it ended, tokens, failovers) become a `RequestRecord` for
usage accounting and the request audit log (`state.usage_book`, written behind).

What only the HTTP layer knows (bytes written, the response's end, the request id) is added
when the request ends: the record is handed to the request's `RequestInfo`
(`addons.request_scope`), whose `on_end` the HTTP layer calls once the response is over.
Without a request scope (a background video job, a unit test) it is added at once.

A request refused before its job existed (401 for its key, 400 for its body) is recorded
too, with no model and, when its key was not valid, the key `none` (never the value sent);
a route that runs no job and succeeds (a model listing) is not.

The prompt and the answer are kept only with `audit.store_content`, cut to
`audit.content_max_chars` characters each; only then does this addon add a stream transform
(collecting the answer text), so with the default nothing runs per event.
"""
from __future__ import annotations

import time
from typing import Any

from addons.events import Event, TextDelta
from addons.flow import Flow
from addons.request_scope import RequestInfo, current
from state.account import token_label
from state.options import Loader
from state.usage_record import RequestRecord

__all__ = ["AnswerCapture", "RequestRecorder"]

_ANSWER = "audit.answer"


class AnswerCapture:
    """One try's answer text, up to `limit` characters (the last try's is the answer)."""

    __slots__ = ("parts", "size", "limit")

    def __init__(self, flow: Flow, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        flow.metadata[_ANSWER] = self

    def chunk(self, event: Event) -> list[Event]:
        if type(event) is TextDelta and self.size < self.limit:
            self.parts.append(event.text)
            self.size += len(event.text)
        return [event]

    def flush(self) -> list[Event]:
        return []

    def text(self) -> str:
        return "".join(self.parts)[:self.limit]


def _client(flow: Flow) -> tuple[str, str]:
    """(key, key name): a managed key's id and name; "app" for a key of `app.api_key`,
    "open" without any; "none" and no name for a request refused for its key (missing,
    unknown, disabled or expired: the value it sent is never kept)."""
    client = flow.client
    if client is not None:
        return client.id or client.name, client.name
    if flow.api_key:
        return "app", "app"
    if flow.error is not None and flow.error.status == 401:
        return "none", ""
    return "open", "open"


class RequestRecorder:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("audit.store_content", bool, False,
                          "Keep the flattened prompt and the answer text of each request in "
                          "the request audit log. Off: no prompt or answer is ever stored.")
        loader.add_option("audit.content_max_chars", int, 4000,
                          "With audit.store_content: the longest prompt and answer kept per "
                          "request, in characters (the rest is cut off).", check=_positive)

    def __init__(self, settings: Any, book: Any | None) -> None:
        self.settings = settings
        #: where records go (`state.usage_book.UsageBook.add`); None records nothing
        self.book = book

    def transform(self, flow: Flow) -> AnswerCapture | None:
        audit = self.settings.options.audit
        if self.book is None or not audit.store_content:
            return None
        return AnswerCapture(flow, audit.content_max_chars)

    def finish(self, flow: Flow) -> None:
        if self.book is None:
            return
        if flow.request is None and flow.error is None:
            return  # a route that runs no job (a model listing): nothing to account
        # a request refused before its job existed (its key, its body) is kept too, without
        # a model: the audit shows who was turned away
        rec = self._record(flow)
        info = current()
        if info is None or info.ended:
            self.book.add(rec)
            return
        committed_at = flow.committed_at
        info.on_end = lambda done: self._complete(rec, committed_at, done)

    def _complete(self, rec: RequestRecord, committed_at: float | None,
                  info: RequestInfo) -> None:
        """The HTTP layer's part, once the response is over: times count from the request's
        arrival rather than the flow's creation."""
        elapsed = time.perf_counter() - info.started
        rec.request_id = info.id[:128]
        rec.bytes_in = info.bytes_in
        rec.bytes_out = info.bytes_out
        rec.at = int((time.time() - elapsed) * 1000)
        rec.duration_ms = int(elapsed * 1000)
        if committed_at is not None:
            rec.ttft_ms = max(0, int((committed_at - info.started) * 1000))
        if not info.complete and rec.status < 400:
            rec.status = 499  # the client left before the whole answer reached it
            rec.error_code = "client_disconnected"
        self.book.add(rec)

    def _record(self, flow: Flow) -> RequestRecord:
        now = time.perf_counter()
        key, key_name = _client(flow)
        err = flow.error
        lease = flow.lease
        job = flow.request
        model = flow.model.id if flow.model is not None else job.model if job is not None else ""
        rec = RequestRecord(
            at=int(time.time() * 1000 - (now - flow.started) * 1000),
            request_id=flow.id,
            key=key[:64], key_name=key_name[:191], model=str(model)[:128],
            endpoint=flow.dialect[:32],
            account=token_label(lease.token) if lease is not None else "",
            tier=lease.account.pool if lease is not None else "",
            status=err.status if err is not None else 200,
            error_code=(err.code or err.type or "")[:64] if err is not None else "",
            prompt_tokens=flow.usage.prompt_tokens,
            completion_tokens=flow.usage.completion_tokens,
            reasoning_tokens=flow.usage.reasoning_tokens,
            duration_ms=int((now - flow.started) * 1000),
            stream=job is not None and bool(job.stream),
            failovers=max(0, flow.attempt.number - 1),
        )
        if flow.committed_at is not None:
            rec.ttft_ms = int((flow.committed_at - flow.started) * 1000)
        audit = self.settings.options.audit
        if audit.store_content:
            limit = audit.content_max_chars
            rec.prompt = flow.prompt[:limit]
            capture = flow.metadata.get(_ANSWER)
            rec.answer = capture.text() if capture is not None else ""
        return rec


def _positive(value: int) -> None:
    if value <= 0:
        raise ValueError("must be greater than 0")
