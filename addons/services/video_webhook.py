"""The optional completion webhook of `/v1/videos`: the finished (or failed) job object is
POSTed to `video.webhook_url`, for clients that would rather not poll.

The body is the job object as `GET /v1/videos/{id}` shows it. With `video.webhook_secret`
set, `X-Grok2api-Signature: sha256=<hex>` carries the HMAC-SHA256 of the raw body keyed by
the secret (`X-Grok2api-Timestamp` says when it was sent). A refused or failed delivery is
tried again a few times with exponential backoff. Delivery runs beside the job, never in
its way; the log names only the receiver's host, never the secret or the URL's query.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Grok2api-Signature"
TIMESTAMP_HEADER = "X-Grok2api-Timestamp"
TIMEOUT_SEC = 10.0


def check_url(value: str) -> None:
    """Empty (off) or an http(s) URL with a host."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def deliver(url: str, body: bytes, secret: str, *, retries: int = 3,
                  backoff: float = 1.0, session: aiohttp.ClientSession | None = None) -> bool:
    """POSTs `body` until a 2xx answer, at most `retries` more times after the first, waiting
    `backoff`, then twice that, … in between. True once delivered."""
    host = urlsplit(url).hostname or "?"
    own = session is None
    client = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SEC))
    try:
        for attempt in range(retries + 1):
            headers = {"Content-Type": "application/json", "User-Agent": "grok2api-webhook",
                       TIMESTAMP_HEADER: str(int(time.time()))}
            if secret:
                headers[SIGNATURE_HEADER] = signature(secret, body)
            try:
                async with client.post(url, data=body, headers=headers,
                                       allow_redirects=False) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    log.warning("video webhook to %s answered %d (try %d of %d)", host,
                                resp.status, attempt + 1, retries + 1)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.warning("video webhook to %s failed: %s (try %d of %d)", host,
                            type(exc).__name__, attempt + 1, retries + 1)
            if attempt < retries:
                await asyncio.sleep(backoff * 2 ** attempt)
        return False
    finally:
        if own:
            await client.close()
