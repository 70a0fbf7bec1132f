"""`GET /metrics`: the Prometheus text format of this gateway.

Counters and histograms come from the metrics addon (`addons/metrics.py`); the account counts
by pool and state and the media cache's bytes and files are read at scrape time, never per
request. With several workers (`PROMETHEUS_MULTIPROC_DIR` set by `grok2api serve`) the
counters of every worker are merged from their files, while the account and cache numbers
are the answering worker's view (every worker loads the same table and the same directory).

`metrics.token` set: the scrape needs `Authorization: Bearer <token>` (compared in constant
time). Empty: open, as scrapers usually run inside the deployment; keep `/metrics` off the
public side of the proxy then.
"""
from __future__ import annotations

import hmac
import os
from collections import Counter as Tally
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from addons.services.media_index import KINDS
from state.account import POOLS, STATUSES
from state.options import Loader

__all__ = ["CONTENT_TYPE", "authorized", "load", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def load(loader: Loader) -> None:
    loader.add_option("metrics.token", str, "",
                      "Bearer token GET /metrics requires; empty = /metrics is open (scrape "
                      "from inside the deployment, keep it off the public side of a proxy).")


def authorized(settings: Any, authorization: str | None) -> bool:
    token = settings.options.metrics.token
    if not token:
        return True
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class _Snapshot:
    """Families computed before the scrape (the registry's collectors are synchronous)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


class _Registered:
    """The app's own registry, for a single process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def account_family(pool: Any) -> GaugeMetricFamily:
    """Accounts by pool and stored state (an expiry noticed at runtime counts as expired);
    deleted ones are left out. Every pool and state appears, zeros included."""
    counts: Tally[tuple[str, str]] = Tally()
    for acc in pool.all():
        if acc.deleted_at is not None:
            continue
        counts[(acc.pool, "expired" if acc.runtime_expired else acc.status)] += 1
    family = GaugeMetricFamily("grok2api_accounts", "Accounts by pool and state",
                               labels=("pool", "state"))
    pools = sorted({*POOLS, *(p for p, _ in counts)})
    for name in pools:
        for state in STATUSES:
            family.add_metric((name, state), counts.get((name, state), 0))
    return family


async def media_families(media: Any) -> list[GaugeMetricFamily]:
    size = GaugeMetricFamily("grok2api_media_cache_bytes", "Bytes of the local media cache",
                             labels=("kind",))
    files = GaugeMetricFamily("grok2api_media_cache_files", "Files in the local media cache",
                              labels=("kind",))
    for kind in KINDS:
        stats = await media.stats(kind)
        size.add_metric((kind,), stats.size_bytes)
        files.add_metric((kind,), stats.count)
    return [size, files]


async def render(svc: Any, registry: CollectorRegistry) -> bytes:
    """The exposition text: this app's counters (or every worker's), plus the scrape-time
    account and cache gauges."""
    scrape = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(_Registered(registry))
    scrape.register(_Snapshot([account_family(svc.pool), *await media_families(svc.media)]))
    return generate_latest(scrape)
