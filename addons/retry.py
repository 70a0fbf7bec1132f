"""Retry and failover: classify an upstream failure, feed it back to the pool, decide a retry.

Runs in `responseheaders`, which the pipeline also calls for an in-band error that arrives
before the first content byte, and for an empty answer. After the first byte the pipeline
never asks for a retry.

An account is penalised only for evidence about that account: a chat 429 (HTTP, in-band, or
the usage-limit answer) cools that mode of that account, and in quota strategy a rate-limits
probe of that mode follows at once and decides for how long (`AccountPool.apply_probe`); an
invalid-credentials marker expires the account and switches for free; a plain 401 takes it out
of this process's rotation. Upstream 5xx, broken or stalled streams and Cloudflare challenges
only lower its score a little, and nothing at all when the breaker blames grok.com or the
egress as a whole (`attempt.upstream_wide`): they never take an account out. Such a failure
moves on to the next try at once and without spending the budget: the breaker answers that
try itself (its error class, `Retry-After`) or sends it as its half-open probe.

A refusal by grok.com's edge that the clearance addon already answered (`attempt.remedy`: a
fresh `x-statsig-id` after an anti-bot refusal, a newly solved Cloudflare clearance after a
challenge) is tried again at once on the same account, free and without penalty. An account
code (`[WKE=unauthorized:blocked-user]`, `account:email-domain-rejected`, …) expires the
account, with the marker as its reason and grok.com's code in its last error.

An empty answer (`EMPTY_RESPONSE`: no text, no tool call, no media) and a stale media file
(`STALE_MEDIA`: the account's image for another prompt, `addons/stale_media.py`) always
switch account, whatever `retry.on_codes` says, and count against the retry budget. The budget is
`retry.max_retries` in quota strategy and a fixed `RANDOM_MAX_RETRIES` in random strategy,
where a 429 cools the mode for its pool's refresh interval (no quota windows to trust).

A try that continued an upstream conversation (`flow.continued`) and failed is always tried
once more with the full history: the conversation may be gone upstream. Unless the failure
was about the account (401, 403, 429), that account may serve the retry.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any

from addons.accounts import strategy
from addons.errors import failure_error
from addons.flow import Flow
from addons.upstream import classify as kinds
from addons.upstream.classify import excerpt
from state.account import token_label
from state.options import Loader
from state.pool import RANDOM

log = logging.getLogger(__name__)

NAME = "retry"
#: Retries of the random strategy.
RANDOM_MAX_RETRIES = 5
#: Failures that speak about the account, not about a continued conversation.
ACCOUNT_STATUSES = frozenset({401, 403, 429})


class Retry:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("retry.max_retries", int, 1,
                          "Extra attempts with a different account (0 = none), in the quota "
                          "strategy; the random strategy allows 5.")
        loader.add_option("retry.on_codes", list[int], [429, 401, 503],
                          "Upstream statuses that switch accounts (an array, or a "
                          "comma-separated string).")
        loader.add_option("retry.backoff_base_ms", int, 50,
                          "First backoff between attempts, in milliseconds.")
        loader.add_option("retry.backoff_max_ms", int, 2000,
                          "Largest backoff between attempts, in milliseconds.")

    def __init__(self, pool: Any, settings: Any) -> None:
        self.pool = pool
        self.settings = settings
        self.refresher: Any | None = None

    def bind_refresher(self, refresher: Any | None) -> None:
        """The `QuotaRefresher`: a chat 429 is followed by a probe of that account and mode."""
        self.refresher = refresher

    def _on_codes(self) -> frozenset[int]:
        return frozenset(self.settings.options.retry.on_codes)

    def responseheaders(self, flow: Flow) -> None:
        attempt = flow.attempt
        failure = attempt.failure
        if failure is None:
            return
        counted = flow.metadata.get(NAME, 0)  # retries spent by this flow
        status = failure.status
        lease = flow.lease
        kind = kinds.failure_kind(failure)
        empty = kind == kinds.EMPTY
        stale = kind == kinds.STALE
        how = strategy(self.settings)
        free_switch = False
        if attempt.remedy is not None and lease is not None:
            self._same_account_again(flow, kind)
            return
        if kind == kinds.CREDENTIALS and lease is not None:
            reason, detail = kinds.account_reason(failure)
            self.pool.on_invalid_credentials(lease.token, reason, detail)
            free_switch = True  # an expired account is not the request's fault: no budget spent
        elif lease is not None and not attempt.upstream_wide:
            if kind == kinds.UNAUTHORIZED:
                self.pool.on_unauthorized(lease.token)
            elif kind == kinds.RATE_LIMITED:
                self._rate_limited(lease, how)
            elif empty:
                self.pool.on_failure(lease, "empty response")
            elif stale:
                self.pool.on_failure(lease, "stale media: the same image as for another prompt")
            elif kind in (kinds.SERVER_ERROR, kinds.CONNECTION, kinds.TIMEOUT, kinds.CHALLENGE,
                          kinds.ANTI_BOT):
                self.pool.on_failure(lease, f"upstream {status} ({kind})")
        flow.last_error = flow.error = failure_error(failure)
        # blamed on grok.com as a whole: the next try is the breaker's to refuse (at once,
        # with Retry-After) or to send as its probe, so it costs no budget and no wait
        wide = attempt.upstream_wide
        free_switch = free_switch or wide
        retry = free_switch
        if not free_switch and (empty or stale or status in self._on_codes()):
            budget = (RANDOM_MAX_RETRIES if how == RANDOM
                      else self.settings.options.retry.max_retries)
            if counted < budget:
                flow.metadata[NAME] = counted + 1
                retry = True
        if attempt.continued and flow.continued is not None:
            flow.continued.abandoned = True
            if status not in ACCOUNT_STATUSES and lease is not None:
                flow.tried = [t for t in flow.tried if t != lease.token]  # the account is fine
            retry = True
        who = token_label(lease.token) if lease is not None else "-"
        # the detail stays here, redacted; the client only learns the status and the kind
        detail = excerpt(failure.message, 300)
        if not retry:
            log.warning("%s: upstream %s (%s) on account %s (attempt %d): %s; no retry left",
                        flow.id, status, kind, who, attempt.number, detail)
            return
        log.info("%s: upstream %s (%s) on account %s (attempt %d): %s; failing over",
                 flow.id, status, kind, who, attempt.number, detail)
        attempt.retry = True
        flow.error = None
        if wide:
            return
        opts = self.settings.options.retry
        base = opts.backoff_base_ms / 1000
        cap = opts.backoff_max_ms / 1000
        delay = min(cap, base * (2 ** (attempt.number - 1)))
        attempt.retry_delay = delay * random.uniform(0.5, 1.0) if delay > 0 else 0.0

    def _same_account_again(self, flow: Flow, kind: str) -> None:
        """What grok.com's edge refused was fixed (`attempt.remedy`): the same account tries
        again at once, with no penalty and no budget spent (the remedy is once per flow)."""
        attempt, lease = flow.attempt, flow.lease
        flow.last_error = failure_error(attempt.failure)
        flow.error = None
        flow.tried = [t for t in flow.tried if t != lease.token]
        flow.pinned_token = lease.token
        attempt.retry = True
        log.info("%s: upstream %s (%s) on account %s (attempt %d); trying it again with a %s",
                 flow.id, attempt.failure.status, kind, token_label(lease.token), attempt.number,
                 attempt.remedy)

    def _rate_limited(self, lease: Any, how: str) -> None:
        """Cool the mode of the account: for the pool's refresh interval in random strategy
        (nothing is probed there); else briefly, and ask for the probe that decides."""
        if how == RANDOM:
            interval = getattr(self.settings.options.account.refresh,
                               f"{lease.account.pool}_interval_sec")
            self.pool.on_rate_limited(lease, reset_at=time.time() + max(1, interval))
            return
        self.pool.on_rate_limited(lease)
        if self.refresher is not None:
            self.refresher.probe_rate_limited(lease.token, lease.mode)
