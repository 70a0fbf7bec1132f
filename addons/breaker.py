"""The chain's side of the upstream circuit breaker (`addons/services/breaker.py`).

* `attempt`: while the breaker is open, a try is refused before any account is leased, with
  the error class grok.com has been giving and `Retry-After`; while half-open, only the probe
  goes through; a try that goes notes when it was sent (a success tells the breaker about
  the time its try was sent, not the time it ended);
* `responseheaders`: a failed try is classified and recorded; when the breaker blames grok.com
  or the egress as a whole, `attempt.upstream_wide` tells the retry addon to leave the account
  alone, and the 429s a throttle now explains get their account cooldowns lifted;
* `transform`: the probe's first content closes the breaker (a long answer need not end first);
* `response`: a success is recorded; `error`: a failure the pipeline raised after the answer
  had started (a cut or stalled stream) is recorded and logged, since no `responseheaders`
  runs for it; `finish`: a probe that said nothing frees the half-open slot.
"""
from __future__ import annotations

import logging
from typing import Any

from addons.errors import breaker_open
from addons.events import CONTENT_EVENTS, Event
from addons.flow import Flow
from addons.services.breaker import CircuitBreaker
from addons.upstream.classify import excerpt, failure_kind

log = logging.getLogger(__name__)

NAME = "breaker"
#: `flow.metadata` key: when the current try was sent, on the breaker's clock.
STARTED = "breaker.started"


class _ProbeWatch:
    """The half-open probe's stream transform: passes events on, and closes the breaker at
    the first content."""

    __slots__ = ("_done", "_flow", "_service")

    def __init__(self, service: CircuitBreaker, flow: Flow) -> None:
        self._service, self._flow, self._done = service, flow, False

    def chunk(self, event: Event) -> list[Event]:
        if not self._done and isinstance(event, CONTENT_EVENTS):
            self._done = True
            self._service.probe_answered(self._flow.id)
        return [event]


class Breaker:
    def __init__(self, settings: Any, pool: Any, service: CircuitBreaker | None = None) -> None:
        self.settings = settings
        self.pool = pool
        #: The process's breaker (shown on `/health`).
        self.service = service or CircuitBreaker(settings)

    def attempt(self, flow: Flow) -> None:
        refusal = self.service.check(flow.id)
        if refusal is not None:
            raise breaker_open(refusal.status, refusal.reason, refusal.retry_after)
        flow.metadata[STARTED] = self.service.now()

    def responseheaders(self, flow: Flow) -> None:
        attempt = flow.attempt
        # a refusal the clearance addon cured (`attempt.remedy`) is not an outage
        if attempt.failure is not None and attempt.remedy is None:
            self._record(flow)

    def _record(self, flow: Flow) -> str:
        """Record the failure of the current try once; returns its kind."""
        attempt = flow.attempt
        failure = attempt.failure
        kind = failure_kind(failure)
        if flow.metadata.get(NAME) == attempt.number:
            return kind
        flow.metadata[NAME] = attempt.number
        lease = flow.lease
        account = lease.token if lease is not None else "-"
        key = (lease.token, lease.mode) if lease is not None else None
        verdict = self.service.record_failure(kind, failure.status, account, flow.id, key)
        attempt.upstream_wide = verdict.upstream
        for token, mode in verdict.absolved:
            self.pool.lift_rate_limit(token, mode)
        return kind

    def transform(self, flow: Flow) -> _ProbeWatch | None:
        if self.service.is_probe(flow.id):
            return _ProbeWatch(self.service, flow)
        return None

    def response(self, flow: Flow) -> None:
        lease = flow.lease
        if lease is not None:
            self.service.record_success(lease.token, flow.id, flow.metadata.get(STARTED))

    def error(self, flow: Flow) -> None:
        attempt = flow.attempt
        if (attempt.failure is None or attempt.remedy is not None
                or flow.metadata.get(NAME) == attempt.number):
            return
        kind = self._record(flow)  # failed after the answer had started: no retry ran
        log.warning("%s: upstream failed after the answer started (%s, %s): %s", flow.id,
                    attempt.failure.status, kind, excerpt(attempt.failure.message, 300))

    def finish(self, flow: Flow) -> None:
        self.service.release(flow.id)
