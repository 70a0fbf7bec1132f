"""Runs one Flow through the addon chain and the upstream transport.

`open()` runs the hooks before the upstream (request headers, the parsed job, the request)
and the attempts until an upstream answers 200, failing over between accounts; its ApiError
is a plain HTTP error for the client (a stream has not started yet). `events()` then yields
batches of transformed neutral events. Before the first content byte an in-band failure may
still fail over (the consumer gets a Restart); after it, a failure raises ApiError, which
streaming dialects render as an in-stream error. An answer is complete only with the
transport's End (the upstream's end marker): a stream that stops without it is a 502
truncation (`UPSTREAM_TRUNCATED`), so half an answer never leaves as a whole one. An answer
that ends with no text, no tool call and no media fails like an in-band 502
(`EMPTY_RESPONSE`), so an uncommitted flow fails over. `close()` always runs last: it cancels
the upstream transfer at once and runs the finish hooks.

Every try gets a fresh `Attempt` (and fresh stream transforms), so nothing a failed try saw
reaches the next one.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from contextlib import aclosing
from typing import Any, AsyncIterator, Callable

from addons.chain import Chain
from addons.errors import ApiError, failure_error
from addons.events import (
    CONTENT_EVENTS, EMPTY_RESPONSE, TRUNCATED_MESSAGE, UPSTREAM_TRUNCATED, CardAttachment, End,
    Event, FinalMessage, Heartbeat, MediaModerated, MediaResult, Restart, TextDelta, ToolCall,
    UpstreamFailure, join_deltas,
)
from addons.flow import Attempt, Flow
from addons.jobs import JobRequest
from addons.upstream.base import Timeouts, Transport, TransportError
from addons.upstream.classify import excerpt, transport_failure
from addons.upstream.router import TransportRouter
from state.options import Loader

log = logging.getLogger(__name__)

_OUTCOME = "pipeline.outcome"
_CLOSED = "pipeline.closed"
_BACKGROUND: set[asyncio.Task] = set()

#: Parses the request body into the job, after the `requestheaders` hooks passed.
Parse = Callable[[], JobRequest]


def _is_answer(ev: Event) -> bool:
    """A tool call, a finished media file, or a card that carries an image (generated or
    searched media)."""
    if type(ev) is ToolCall or type(ev) is MediaResult:
        return True
    if type(ev) is CardAttachment:
        card = ev.card
        return bool(card.get("image") or card.get("imageUrl") or card.get("image_chunk"))
    return False


class Pipeline:
    @staticmethod
    def load(loader: Loader) -> None:
        """The chat.* timeouts it enforces are declared with the upstream config."""
        loader.add_option("server.heartbeat_sec", float, 15.0,
                          "Seconds between SSE keep-alive comments (also detects vanished "
                          "clients).")
        loader.add_option("server.stream_coalesce_ms", float, 40.0,
                          "Once the answer has started, upstream frames arriving within this many "
                          "milliseconds of the previous batch are gathered and sent to the client "
                          "in one write (25 updates a second at most, for a fraction of the CPU "
                          "of one write per token). The first token is never delayed; 0 turns "
                          "it off.")

    def __init__(self, chain: Chain, transport: Transport, settings: Any) -> None:
        self.chain = chain
        #: one transport per kind of job; a bare transport serves chat (tests, benchmarks)
        self.router = (transport if isinstance(transport, TransportRouter)
                       else TransportRouter({"chat": transport}))
        self.settings = settings

    def timeouts(self, flow: Flow) -> Timeouts:
        """Coalescing only helps a client-facing stream; a buffered flow reads at full speed."""
        opts = self.settings.options
        return Timeouts(
            first_byte=opts.chat.first_byte_timeout,
            idle=opts.chat.timeout,
            total=opts.chat.total_timeout,
            heartbeat=opts.server.heartbeat_sec,
            coalesce=opts.server.stream_coalesce_ms / 1000 if flow.request.stream else 0.0,
        )

    async def open(self, flow: Flow, parse: Parse | None = None) -> None:
        """`requestheaders` hooks, then `parse()` (the body, once the client passed them),
        the `request` hooks and the attempts. On failure the flow is already closed (finish
        hooks ran): the caller only renders the error. On success the caller must iterate
        `events()` and then `close()`."""
        try:
            await self._before_upstream(flow, parse)
            if flow.reply is None:
                await self._connect(flow)
        except ApiError as exc:
            await self._fail(flow, exc)
            await self.close(flow)
            raise
        except BaseException:
            await self.close(flow)
            raise

    async def prepare(self, flow: Flow, parse: Parse | None = None) -> None:
        """Runs the hooks up to `request` (no account is leased, nothing is sent upstream)
        and closes the flow: a request answered from what the chain resolved (token counts,
        model listings). Raises the ApiError a hook raised."""
        try:
            await self._before_upstream(flow, parse)
            flow.metadata[_OUTCOME] = "response"
            await self.chain.response(flow)
        except ApiError as exc:
            await self._fail(flow, exc)
            raise
        finally:
            await self.close(flow)

    async def _before_upstream(self, flow: Flow, parse: Parse | None) -> None:
        await self.chain.requestheaders(flow)
        if flow.reply is not None:
            return
        if parse is not None:
            flow.request = parse()
        if flow.request is None:
            return
        kind = flow.request.kind
        if not self.router.serves(kind):
            raise ApiError(501, f"This gateway does not serve {kind} jobs", type="server_error",
                           code="not_implemented")
        await self.chain.request(flow)

    async def _connect(self, flow: Flow) -> None:
        timeouts = self.timeouts(flow)
        while True:
            attempt = flow.attempt = Attempt(flow.attempt.number + 1)
            # the outcome of a failed try is not this one's
            flow.finish_reason, flow.stop_sequence = "stop", None
            await self.chain.attempt(flow)
            answer = None
            # an attempt hook may already have failed this account (an attachment upload):
            # then nothing more is sent and the failure is classified like any other
            if attempt.failure is None:
                try:
                    answer = await self.router.open(attempt.request, timeouts)
                    attempt.status = answer.status
                    if answer.status != 200:
                        body = await answer.error_body()
                        attempt.failure = UpstreamFailure(answer.status, excerpt(body), body)
                except TransportError as exc:  # a timeout is one too
                    attempt.failure = transport_failure(exc)
            if attempt.failure is None:
                attempt.answer = answer
                await self.chain.responseheaders(flow)
                return
            attempt.status = attempt.failure.status
            if answer is not None:
                await answer.aclose()
            await self._failed_attempt(flow)

    async def _failed_attempt(self, flow: Flow) -> None:
        """Classify the failure; return to try again, or raise the error that ends the flow."""
        await self.chain.responseheaders(flow)
        attempt = flow.attempt
        if not attempt.retry:
            raise flow.error or failure_error(attempt.failure)
        if attempt.retry_delay > 0:
            await asyncio.sleep(attempt.retry_delay)

    async def events(self, flow: Flow) -> AsyncIterator[list[Event]]:
        """Batches of transformed events: one batch per upstream read, so a dialect can render
        everything that arrived together into one write."""
        if flow.reply is not None:
            yield await self._replied(flow)
            return
        try:
            while True:
                attempt = flow.attempt
                transforms = attempt.transforms = self.chain.transforms(flow)
                failure = None
                final_text = None
                streamed = False
                answered = False  # text, a tool call or media came from upstream
                moderated = False  # the upstream withheld a media slot
                ended = False
                try:
                    async with aclosing(attempt.answer.events()) as upstream:
                        async for batch in upstream:
                            out: list[Event] = []
                            for ev in join_deltas(batch):
                                cls = type(ev)
                                if cls is Heartbeat:
                                    out.append(ev)
                                    continue
                                if cls is UpstreamFailure:
                                    failure = ev
                                    break
                                if cls is End:
                                    ended = True
                                    break
                                if cls is FinalMessage:
                                    final_text = ev.text
                                    answered = answered or bool(ev.generated_image_urls)
                                elif cls is TextDelta:
                                    streamed = True
                                    answered = answered or not ev.text.isspace() and bool(ev.text)
                                elif cls is MediaModerated:
                                    moderated = True
                                elif not answered:
                                    answered = _is_answer(ev)
                                if cls is MediaResult:
                                    # a transform may reject a media file (the same bytes as
                                    # another prompt's): the try fails like an upstream error
                                    made = transforms.chunk(ev)
                                    failure = next((e for e in made
                                                    if type(e) is UpstreamFailure), None)
                                    if failure is not None:
                                        break
                                    out.extend(made)
                                    continue
                                out.extend(transforms.chunk(ev))
                                if flow.stop_sequence is not None:  # the answer ended here
                                    answered = ended = True
                                    break
                            if out:
                                self._commit(flow, out)
                                yield out
                            if failure is not None or ended:
                                break
                except TransportError as exc:  # a timeout is one too
                    failure = transport_failure(exc)
                if failure is None and not ended:
                    # the upstream stopped without its end marker: whatever the transport,
                    # half an answer is a failure, never a complete answer
                    failure = UpstreamFailure(502, TRUNCATED_MESSAGE, code=UPSTREAM_TRUNCATED)
                if failure is None and not answered and moderated:
                    # the prompt's fault, not the account's: no other account is tried
                    raise ApiError(400, "The upstream withheld every generated result "
                                   "(content moderation); change the prompt and try again",
                                   type="invalid_request_error", code="content_policy_violation")
                if failure is None and not answered and not flow.committed \
                        and not (final_text and not final_text.isspace()):
                    failure = UpstreamFailure(502, "upstream answer was empty",
                                              code=EMPTY_RESPONSE)
                if failure is None:
                    tail: list[Event] = []
                    if not streamed and final_text:
                        tail = transforms.chunk(TextDelta(final_text))
                    tail += transforms.flush()
                    self._commit(flow, tail)
                    flow.metadata[_OUTCOME] = "response"
                    await self.chain.response(flow)
                    tail.append(End(flow.finish_reason))
                    yield tail
                    return
                answer, attempt.answer = attempt.answer, None
                await answer.aclose()
                attempt.failure = failure
                attempt.status = failure.status
                if flow.committed:
                    raise failure_error(failure)
                await self._failed_attempt(flow)
                yield [Restart()]
                await self._connect(flow)
        except ApiError as exc:
            await self._fail(flow, exc)
            raise

    async def _replied(self, flow: Flow) -> list[Event]:
        """A request hook answered the flow itself: its reply, then the end."""
        flow.metadata[_OUTCOME] = "response"
        await self.chain.response(flow)
        return [*flow.reply, End(flow.finish_reason)]

    @staticmethod
    def _commit(flow: Flow, events: list[Event]) -> None:
        """A streamed flow is committed by its first content event (an empty text delta shows
        the client nothing and does not count). A buffered (non-stream)
        flow never is: nothing reached the client, so any failure may still fail over."""
        if not flow.committed and flow.request.stream:
            for ev in events:
                if isinstance(ev, CONTENT_EVENTS) and (type(ev) is ToolCall or ev.text) \
                        or type(ev) is MediaResult:
                    flow.committed = True
                    flow.committed_at = time.perf_counter()
                    return

    async def _fail(self, flow: Flow, exc: ApiError) -> None:
        flow.error = exc
        if flow.metadata.get(_OUTCOME) is None:
            flow.metadata[_OUTCOME] = "error"
            await self.chain.error(flow)

    async def close(self, flow: Flow) -> None:
        """Always call this last (in `finally`): cancels the upstream and runs finish hooks.
        Idempotent, so a safety net may call it again."""
        if flow.metadata.get(_CLOSED):
            return
        flow.metadata[_CLOSED] = True
        answer, flow.attempt.answer = flow.attempt.answer, None
        try:
            if answer is not None:
                await answer.aclose()
        finally:
            if flow.metadata.get(_OUTCOME) is None:
                flow.metadata[_OUTCOME] = "error"
                if flow.error is None:
                    flow.error = ApiError(499, "Client closed the request", type="client_error",
                                          code="client_disconnected")
                try:
                    await self.chain.error(flow)
                except Exception:  # noqa: BLE001
                    log.exception("error hooks failed")
            await self.chain.finish(flow)
            # the transforms hold the flow (the usage tally): without this cycle the whole
            # request's objects die by reference count now, not in the next cyclic collection
            flow.attempt.transforms = None

    def close_when_dropped(self, body: object, flow: Flow) -> None:
        """Safety net for a stream body the server never iterated (the client vanished between
        the response head and the first chunk): its `finally` never runs, so close the flow
        when the body object is collected. A lease must never leak."""
        loop = asyncio.get_running_loop()

        def _dropped() -> None:
            if not flow.metadata.get(_CLOSED) and not loop.is_closed():
                task = loop.create_task(self.close(flow))
                _BACKGROUND.add(task)
                task.add_done_callback(_BACKGROUND.discard)

        weakref.finalize(body, _dropped)
