"""Prometheus counting per request: a few increments in `finish`, one per upstream try in
`responseheaders`, and the in-flight gauges. Nothing here runs per token or touches I/O;
the account and media-cache numbers are read at scrape time (`quart_app.metrics`).

Placed right after auth: its `requestheaders` only counts an admitted request as in flight,
and its `finish` (run in reverse order) comes after every other addon's, so usage and the
outcome are settled when it records them.
"""
from __future__ import annotations

import time

from addons.flow import Flow
from addons.request_scope import current as current_request
from addons.services.metrics import GatewayMetrics, status_class
from addons.upstream import classify as kinds

NAME = "metrics"
#: The routes whose requests run the chain; any other path is `other` (a bounded label).
ENDPOINTS = frozenset({
    "/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos", "/v1/videos/generations",
    "/v1/models", "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/voice/token",
    "/webui/api/chat/completions",
})
#: flow.metadata[NAME] bits: counted in flight, counted as a stream, the try counted
_INFLIGHT, _STREAM = 1, 2


def endpoint_label(flow: Flow) -> str:
    """The route of the request being served, when it is one of `ENDPOINTS`; outside a
    request (a video job resumed at start, a unit test) the flow's dialect."""
    info = current_request()
    if info is None:
        return flow.dialect
    path = info.path
    if path in ENDPOINTS:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model_id}"
    return "other"


def _key_label(flow: Flow) -> str:
    """The client's key NAME: a managed key's name, `app` for a key of `app.api_key`,
    `open` without keys; a refused request that named no valid key is `none`."""
    if flow.client is not None:
        return flow.client.name
    if flow.api_key is not None:
        return "app"
    if flow.error is not None and flow.error.status == 401:
        return "none"
    return "open"


class Metrics:
    def __init__(self, metrics: GatewayMetrics | None = None) -> None:
        self.metrics = metrics or GatewayMetrics()

    def requestheaders(self, flow: Flow) -> None:
        flow.metadata[NAME] = [_INFLIGHT, 0]  # flags, the number of the last try counted
        self.metrics.inflight.inc()

    def request(self, flow: Flow) -> None:
        state = flow.metadata.get(NAME)
        if state is not None and flow.request is not None and flow.request.stream:
            state[0] |= _STREAM
            self.metrics.streams.inc()

    def responseheaders(self, flow: Flow) -> None:
        """A failed try, counted once (an in-band failure after a 200 comes here again)."""
        attempt = flow.attempt
        if attempt.failure is None:
            return
        state = flow.metadata.get(NAME)
        if state is None or state[1] == attempt.number:
            return
        state[1] = attempt.number
        self._upstream(attempt.failure.status, kinds.failure_kind(attempt.failure))

    def _upstream(self, status: int | None, outcome: str) -> None:
        m = self.metrics
        m.child(m.upstream, str(status) if status is not None else "none", outcome).inc()

    def finish(self, flow: Flow) -> None:
        m = self.metrics
        state = flow.metadata.get(NAME) or [0, 0]
        now = time.perf_counter()
        # the last try, unless a failure already counted it: an answer, or a failure after
        # the stream started (that one never reaches `responseheaders`)
        attempt = flow.attempt
        if attempt.number and state[1] != attempt.number and attempt.status is not None:
            if attempt.failure is not None:
                self._upstream(attempt.failure.status, kinds.failure_kind(attempt.failure))
            elif attempt.status == 200:
                self._upstream(200, "ok")
        status = 200 if flow.error is None else flow.error.status
        endpoint = endpoint_label(flow)
        model = m.model_cap(flow.model.id) if flow.model is not None else "-"
        key = m.key_cap(_key_label(flow))
        m.child(m.requests, endpoint, model, status_class(status), key).inc()
        m.child(m.latency, endpoint, model).observe(now - flow.started)
        if flow.committed_at is not None:  # a stream's first content
            m.child(m.ttft, endpoint, model).observe(flow.committed_at - flow.started)
        usage = flow.usage
        if flow.error is None and (usage.prompt_tokens or usage.completion_tokens):
            m.child(m.tokens, "prompt", model, key).inc(usage.prompt_tokens)
            m.child(m.tokens, "completion", model, key).inc(usage.completion_tokens)
        if state[0] & _INFLIGHT:
            m.inflight.dec()
        if state[0] & _STREAM:
            m.streams.dec()

