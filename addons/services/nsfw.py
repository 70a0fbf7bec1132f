"""The NSFW sequence of one account (docs/upstream.md, "Account settings").

Enable runs, in this order: accept the terms of service (gRPC-web on accounts.x.ai),
set a random adult birth date (REST on grok.com; a 429 naming the birth-date change limit
means it is set already), enable the NSFW feature control (gRPC-web on grok.com). Success
adds the tag `nsfw`. Disable only turns the feature control off and removes the tag.

A service function, not a chain addon: the CLI and the admin API call it with the process
services (anything with `pool`, `transport` and `settings`). An invalid-credential marker
from any step expires the account. Results carry the token masked.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from addons.upstream.wire import UpstreamRequest
from addons.upstream.base import TransportError
from addons.upstream.classify import UpstreamHTTPError, excerpt
from addons.upstream.config import ACCOUNTS_ORIGIN, GROK_ORIGIN, UpstreamConfig
from addons.upstream.grpc_web import grpc_call, grpc_headers, pb_bytes, pb_varint
from addons.upstream.headers import build_headers, normalize_sso
from addons.upstream.ratelimits import raise_for_status
from state.account import token_label
from state.options import Loader

__all__ = [
    "NSFW_TAG", "feature_controls_message", "nsfw_disable", "nsfw_enable", "nsfw_many",
    "random_birth_date",
]

log = logging.getLogger(__name__)

NSFW_TAG = "nsfw"
BIRTH_DATE_LIMIT_MARKER = "birth-date-change-limit-reached"
#: SetTosAcceptedVersion: field 2 (varint) = 1 → `10 01`.
TOS_MESSAGE = pb_varint(2, 1)
TOS_REFERER = ACCOUNTS_ORIGIN + "/accept-tos"
#: Referer of the two grok.com steps.
DATA_REFERER = GROK_ORIGIN + "/?_s=data"
NSFW_FEATURE = "always_show_nsfw_content"
MIN_AGE, MAX_AGE = 20, 48

Progress = Callable[[int, int, dict[str, Any]], None]
#: The declared defaults, also used by callers that pass no settings.
TIMEOUT_SEC = 60.0
CONCURRENCY = 50


def load(loader: Loader) -> None:
    loader.add_option("nsfw.timeout", float, TIMEOUT_SEC,
                      "Timeout of each NSFW-sequence call, seconds.")
    loader.add_option("batch.nsfw_concurrency", int, CONCURRENCY,
                      "Accounts put through the NSFW sequence in parallel (admin batch and "
                      "`grok2api accounts nsfw`).")


def feature_controls_message(enabled: bool) -> bytes:
    """UpdateUserFeatureControls: field 1 = {field 2 varint = on/off}, field 2 = an
    update mask naming `always_show_nsfw_content`."""
    return pb_bytes(1, pb_varint(2, int(enabled))) + pb_bytes(2, pb_bytes(1, NSFW_FEATURE))


def random_birth_date(now: dt.datetime | None = None, rng: random.Random | None = None) -> str:
    """An ISO birth date (`1994-07-19T13:42:05.317Z`) of someone aged MIN_AGE–MAX_AGE today:
    year − uniform[20, 48], day 1–28, a random time with milliseconds, and the year
    moved back one when this year's birthday is still ahead, so the age never drops below 20."""
    rng = rng or random.Random()
    today = (now or dt.datetime.now(dt.timezone.utc)).date()
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    year = today.year - rng.randint(MIN_AGE, MAX_AGE)
    if (month, day) > (today.month, today.day):
        year -= 1
    return (f"{year:04d}-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z")


class _StepFailed(Exception):
    def __init__(self, step: str, error: str, status: int | None = None,
                 marker: str | None = None) -> None:
        super().__init__(error)
        self.step, self.error, self.status, self.marker = step, error, status, marker


class _Sequence:
    """One account's calls: one config, timeout and (with a proxy pool) one egress."""

    def __init__(self, services: Any, token: str) -> None:
        transport = services.transport
        settings = getattr(services, "settings", None)
        self.transport = transport
        self.cfg: UpstreamConfig = (getattr(transport, "cfg", None)
                                    or UpstreamConfig.from_settings(settings))
        self.timeout = settings.options.nsfw.timeout if settings is not None else TIMEOUT_SEC
        self.token = token
        # the calls of one sequence share one proxy lease
        proxy = self.cfg.pick_proxy() if self.cfg.proxy_pool else None
        self.kw: dict[str, Any] = {"proxy": proxy} if proxy else {}

    async def _run(self, step: str, call: Any) -> Any:
        try:
            return await call
        except UpstreamHTTPError as exc:
            raise _StepFailed(step, str(exc), exc.status, exc.marker) from None
        except TransportError as exc:
            raise _StepFailed(step, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - reported per account, never raised
            raise _StepFailed(step, excerpt(f"{type(exc).__name__}: {exc}")) from None

    async def accept_tos(self) -> str:
        headers = grpc_headers(self.cfg, self.token, origin=ACCOUNTS_ORIGIN, referer=TOS_REFERER)
        sso = normalize_sso(self.token)  # grok.com's Cloudflare cookies are not for this host
        headers["Cookie"] = f"sso={sso}; sso-rw={sso}"
        await self._run("tos", grpc_call(self.transport, self.cfg.tos_url, headers, TOS_MESSAGE,
                                         timeout=self.timeout, **self.kw))
        return "accepted"

    async def set_birth_date(self) -> str:
        headers = build_headers(self.cfg, self.token, origin=GROK_ORIGIN, referer=DATA_REFERER)
        req = UpstreamRequest("POST", self.cfg.birth_date_url, headers,
                              {"birthDate": random_birth_date()})
        status, _, body = await self._run(
            "birth_date", self.transport.request(req, self.timeout, **self.kw))
        if 200 <= status < 300:
            return "set"
        if status == 429 and BIRTH_DATE_LIMIT_MARKER in body[:65536].decode("utf-8", "replace"):
            return "already_set"
        try:
            raise_for_status(status, body)
        except UpstreamHTTPError as exc:
            raise _StepFailed("birth_date", str(exc), exc.status, exc.marker) from None
        raise _StepFailed("birth_date", f"upstream HTTP {status}", status)  # pragma: no cover

    async def feature_controls(self, enabled: bool) -> str:
        headers = grpc_headers(self.cfg, self.token, origin=GROK_ORIGIN, referer=DATA_REFERER)
        await self._run("nsfw", grpc_call(self.transport, self.cfg.feature_controls_url, headers,
                                          feature_controls_message(enabled),
                                          timeout=self.timeout, **self.kw))
        return "enabled" if enabled else "disabled"


async def _run_sequence(services: Any, token: str, enable: bool) -> dict[str, Any]:
    pool = services.pool
    out: dict[str, Any] = {"token": token_label(token), "action": "enable" if enable else "disable",
                           "ok": False, "steps": {}}
    acc = pool.get(token)
    if acc is None or acc.deleted_at is not None:
        out["error"] = "unknown account" if acc is None else "account deleted"
        return out
    seq = _Sequence(services, token)
    try:
        if enable:
            out["steps"]["tos"] = await seq.accept_tos()
            out["steps"]["birth_date"] = await seq.set_birth_date()
        out["steps"]["nsfw"] = await seq.feature_controls(enable)
    except _StepFailed as exc:
        out.update(failed_step=exc.step, error=exc.error)
        if exc.status is not None:
            out["status"] = exc.status
        if exc.marker:
            pool.on_invalid_credentials(token, exc.marker)
            out["expired"] = exc.marker
            log.info("account %s expired during the NSFW %s step: %s", token_label(token),
                     exc.step, exc.marker)
        else:
            log.info("NSFW %s failed for %s at %s: %s", out["action"], token_label(token),
                     exc.step, exc.error)
        return out
    if enable:
        pool.update_tags(token, add=[NSFW_TAG])
    else:
        pool.update_tags(token, remove=[NSFW_TAG])
    out["ok"] = True
    return out


async def nsfw_enable(services: Any, token: str) -> dict[str, Any]:
    """Accept ToS, set a birth date, enable NSFW; tag `nsfw` on success."""
    return await _run_sequence(services, token, True)


async def nsfw_disable(services: Any, token: str) -> dict[str, Any]:
    """Turn the NSFW feature control off; drop the tag on success."""
    return await _run_sequence(services, token, False)


async def nsfw_many(services: Any, tokens: Sequence[str], *, enable: bool = True,
                    concurrency: int | None = None,
                    progress: Progress | None = None) -> list[dict[str, Any]]:
    """The sequence for many accounts, `batch.nsfw_concurrency` at a time; results in the
    order of `tokens`. `progress(done, total, result)` after each account."""
    settings = getattr(services, "settings", None)
    if concurrency is None:
        concurrency = (settings.options.batch.nsfw_concurrency if settings is not None
                       else CONCURRENCY)
    sem = asyncio.Semaphore(max(1, concurrency))
    run = nsfw_enable if enable else nsfw_disable
    done = 0

    async def one(token: str) -> dict[str, Any]:
        nonlocal done
        async with sem:
            result = await run(services, token)
        done += 1
        if progress is not None:
            progress(done, len(tokens), result)
        return result

    return list(await asyncio.gather(*(one(t) for t in tokens)))
