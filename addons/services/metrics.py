"""The gateway's Prometheus metrics: the objects the metrics addon counts into, per app.

Each app gets its own `CollectorRegistry` (several apps may live in one test process). When
`PROMETHEUS_MULTIPROC_DIR` is set (`grok2api serve` sets it for `SERVER_WORKERS` > 1 before
the workers start), `prometheus_client` writes every value to a file of this process in that
directory and the scrape merges the files of every worker; in-flight gauges then add up the
live processes only (`livesum`).

Label values are bounded: an endpoint is one of the served routes, a model one of the
catalogue's, a key label a managed key's NAME (never the key), `app` or `open`, a status a
class (`2xx`); `LabelCap` turns any value past a label's cap into `other`, so no label can
grow without bound whatever an operator configures.
"""
from __future__ import annotations

import threading

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics)

__all__ = ["GatewayMetrics", "LabelCap", "OTHER", "status_class"]

OTHER = "other"
#: Request latency, seconds: from a quick refusal to a long stream.
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Time to the first token of an answer, seconds.
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def status_class(status: int) -> str:
    """`2xx`, `4xx`, `5xx`, …: a bounded label for an HTTP status."""
    return f"{status // 100}xx" if 100 <= status < 600 else OTHER


class LabelCap:
    """At most `cap` distinct values of one label; later new values are `other`."""

    __slots__ = ("cap", "_seen", "_lock")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.cap:
                return OTHER
            self._seen.add(value)
        return value


class GatewayMetrics:
    """Counters, histograms and in-flight gauges; labelled children are cached, so a
    request costs a few dictionary look-ups and increments."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # no `_created` series: a timestamp per labelled child doubles the scrape for
        # nothing a dashboard reads (process-wide, and the same for every app)
        disable_created_metrics()
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "grok2api_requests", "Client requests served by the chain, by endpoint, model, "
            "status class and client key name", ("endpoint", "model", "status", "key"),
            registry=reg)
        self.latency = Histogram(
            "grok2api_request_duration_seconds", "Time from the request to its last byte",
            ("endpoint", "model"), buckets=LATENCY_BUCKETS, registry=reg)
        self.ttft = Histogram(
            "grok2api_time_to_first_token_seconds", "Time from the request to the first "
            "token of the answer", ("endpoint", "model"), buckets=TTFT_BUCKETS, registry=reg)
        self.tokens = Counter(
            "grok2api_tokens", "Tokens of answered requests (estimated as in `usage`)",
            ("kind", "model", "key"), registry=reg)
        self.upstream = Counter(
            "grok2api_upstream_calls", "Tries sent to grok.com by their status and outcome "
            "(`ok`, or the failure kind)", ("status", "outcome"), registry=reg)
        self.inflight = Gauge(
            "grok2api_requests_in_flight", "Requests in the chain now",
            registry=reg, multiprocess_mode="livesum")
        self.streams = Gauge(
            "grok2api_streams_in_flight", "Streaming requests in the chain now",
            registry=reg, multiprocess_mode="livesum")
        self.model_cap = LabelCap(200)
        self.key_cap = LabelCap(1000)
        self._children: dict[tuple, object] = {}

    def child(self, metric: Counter | Histogram, *labels: str):
        """`metric.labels(*labels)`, cached (prometheus' own look-up takes a lock and checks
        every value on each call)."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found
