"""`POST /rest/rate-limits`: the quota window of one mode."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from addons.upstream.wire import UpstreamRequest
from addons.upstream.classify import UpstreamHTTPError, excerpt, invalid_credentials_marker
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers

#: Statuses that count as success for the JSON POSTs (rate limits, uploads).
OK_STATUSES = frozenset({200, 201, 204})
_CREDENTIAL_STATUSES = frozenset({400, 401, 403})


class ShortCallTransport(Protocol):
    async def request(
        self, request: UpstreamRequest, timeout: float = 30.0
    ) -> tuple[int, dict[str, str], bytes]: ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    remaining: int
    total: int
    window_seconds: int
    #: Seconds until the mode can be used again, when grok.com says (`waitTimeSeconds`).
    wait_seconds: int | None = None


def default_window(mode: str) -> int:
    """The window when the answer names none: 86 400 s for `fast`, 7 200 s for other modes."""
    return 86_400 if mode == "fast" else 7_200


def raise_for_status(status: int, body: bytes) -> None:
    """Raise `UpstreamHTTPError` (with a sanitised excerpt and marker) unless 2xx-OK."""
    if status in OK_STATUSES:
        return
    text = body[:65536].decode("utf-8", "replace")
    marker = invalid_credentials_marker(text) if status in _CREDENTIAL_STATUSES else None
    raise UpstreamHTTPError(status, excerpt(text), marker)


def json_body(status: int, body: bytes) -> dict[str, Any]:
    """Parse a JSON object body; an empty body is `{}`; anything else is a 502."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamHTTPError(502, "upstream answered non-JSON: " + excerpt(body)) from None
    if not isinstance(data, dict):
        raise UpstreamHTTPError(502, "upstream answered a non-object: " + excerpt(body))
    return data


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_rate_limits(data: dict[str, Any], mode: str) -> RateLimits:
    """`remainingQueries` (older: `remainingTokens`) is required; `totalQueries` defaults to
    remaining; the window and `waitTimeSeconds` may also sit under `limits` / `rateLimits`
    (older answers); a wait of 0 or less says nothing."""
    remaining = _int(data.get("remainingQueries"))
    if remaining is None:
        remaining = _int(data.get("remainingTokens"))
    if remaining is None:
        raise UpstreamHTTPError(502, "rate-limits answer without remainingQueries")
    total = _int(data.get("totalQueries"))
    window = _int(data.get("windowSizeSeconds"))
    wait = _int(data.get("waitTimeSeconds"))
    for nested in ("limits", "rateLimits"):
        sub = data.get(nested)
        if isinstance(sub, dict):
            window = window if window is not None else _int(sub.get("windowSizeSeconds"))
            wait = wait if wait is not None else _int(sub.get("waitTimeSeconds"))
    return RateLimits(
        remaining=max(0, remaining),
        total=max(0, total) if total is not None else max(0, remaining),
        window_seconds=window if window and window > 0 else default_window(mode),
        wait_seconds=wait if wait and wait > 0 else None,
    )


async def fetch_rate_limits(
    transport: ShortCallTransport,
    cfg: UpstreamConfig,
    token: str,
    mode: str,
    *,
    timeout: float = 20.0,
) -> RateLimits:
    headers = build_headers(cfg, token, origin=cfg.origin, referer=cfg.referer)
    req = UpstreamRequest("POST", cfg.rate_limits_url, headers, {"modelName": mode})
    status, _, body = await transport.request(req, timeout)
    raise_for_status(status, body)
    return parse_rate_limits(json_body(status, body), mode)
