"""Upstream (grok.com client) settings, resolved once from the layered settings.

`UpstreamConfig.from_settings(settings)` reads only `settings.get(dotted_key, default)`.
Values may arrive as strings (environment overrides), so every field is coerced here.
Legacy flat keys (`proxy.user_agent`, `proxy.browser`, `proxy.cf_cookies`,
`proxy.cf_clearance`) win over the nested `proxy.clearance.*` ones when non-empty,
because external cookie refreshers write the flat keys (api-surface §9.2).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

from addons.upstream.base import Timeouts

DEFAULT_BASE_URL = "https://grok.com"
#: Origin/Referer host grok.com checks, whatever base URL (mirror, simulator) we reach it through.
GROK_ORIGIN = "https://grok.com"
DEFAULT_ASSETS_URL = "https://assets.grok.com"
#: The account service (terms of service, E15); `upstream.accounts_url` may point elsewhere
#: (the simulator serves its paths on its single origin).
DEFAULT_ACCOUNTS_URL = "https://accounts.x.ai"
#: Origin/Referer host accounts.x.ai checks, whatever URL we reach it through.
ACCOUNTS_ORIGIN = "https://accounts.x.ai"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36"
)
DEFAULT_BROWSER = "chrome136"
#: The documented fixed `x-statsig-id` fallback (decodes to an `e:TypeError …` string).
FIXED_STATSIG_ID = (
    "ZTpUeXBlRXJyb3I6IENhbm5vdCByZWFkIHByb3BlcnRpZXMgb2YgdW5kZWZpbmVkIChyZWFkaW5nICdjaGls"
    "ZE5vZGVzJyk="
)

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def to_bool(value: Any, default: bool) -> bool:
    """Coerce a settings value (bool, number or env string) to bool."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default


def to_float(value: Any, default: float) -> float:
    """Coerce to a positive float; anything unusable gives `default`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def to_str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def to_list(value: Any) -> tuple[str, ...]:
    """A list setting; a newline/comma separated string is split (users write both)."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.replace(",", "\n").splitlines()
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value if v is not None]
    else:
        items = [str(value)]
    return tuple(s.strip() for s in items if s and s.strip())


def _first(settings: Any, keys: tuple[str, ...], default: str) -> str:
    """The first non-empty string among `keys` (flat legacy key first)."""
    for key in keys:
        text = to_str(settings.get(key, None))
        if text:
            return text
    return default


class _RoundRobin:
    """Thread-safe-enough round robin over a fixed tuple (itertools.count is atomic in CPython)."""

    __slots__ = ("_items", "_counter")

    def __init__(self, items: tuple[str, ...]) -> None:
        self._items = items
        self._counter: Iterator[int] = itertools.count()

    def next(self) -> str | None:
        if not self._items:
            return None
        return self._items[next(self._counter) % len(self._items)]


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Immutable upstream settings; rebuild it (and the transport) when settings change.
    Only `pick_proxy()` has state: the round-robin position over `proxy_pool`."""

    base_url: str = DEFAULT_BASE_URL
    assets_url: str = DEFAULT_ASSETS_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    user_agent: str = DEFAULT_USER_AGENT
    browser: str = DEFAULT_BROWSER
    cf_cookies: str = ""
    cf_clearance: str = ""
    proxy_url: str | None = None  # single_proxy mode
    proxy_pool: tuple[str, ...] = ()  # proxy_pool mode
    skip_ssl_verify: bool = False
    dynamic_statsig: bool = True
    statsig_id: str = FIXED_STATSIG_ID
    temporary: bool = True
    memory: bool = False
    custom_instruction: str = ""
    timeouts: Timeouts = field(default_factory=Timeouts)
    upload_timeout: float = 60.0
    _rr: _RoundRobin = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rr", _RoundRobin(tuple(self.proxy_pool)))

    @property
    def http1_only(self) -> bool:
        """Plain http:// (the simulator): pin HTTP/1.1, see Known trap 6."""
        return self.base_url.startswith("http://")

    @property
    def origin(self) -> str:
        return GROK_ORIGIN

    @property
    def referer(self) -> str:
        return GROK_ORIGIN + "/"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/rest/app-chat/conversations/new"

    @property
    def rate_limits_url(self) -> str:
        return f"{self.base_url}/rest/rate-limits"

    @property
    def upload_url(self) -> str:
        return f"{self.base_url}/rest/app-chat/upload-file"

    @property
    def tos_url(self) -> str:
        """E15, gRPC-web on accounts.x.ai (§11.2)."""
        return f"{self.accounts_url}/auth_mgmt.AuthManagement/SetTosAcceptedVersion"

    @property
    def birth_date_url(self) -> str:
        """E17 (§11.3)."""
        return f"{self.base_url}/rest/auth/set-birth-date"

    @property
    def feature_controls_url(self) -> str:
        """E18, gRPC-web on grok.com (§11.4)."""
        return f"{self.base_url}/auth_mgmt.AuthManagement/UpdateUserFeatureControls"

    def pick_proxy(self) -> str | None:
        """The proxy for one request: the single proxy, or the next of the pool, or None."""
        if self.proxy_pool:
            return self._rr.next()
        return self.proxy_url

    @classmethod
    def from_settings(cls, settings: Any) -> UpstreamConfig:
        get = settings.get
        mode = to_str(get("proxy.egress.mode", "direct")).lower()
        proxy_url: str | None = None
        pool: tuple[str, ...] = ()
        if mode == "single_proxy":
            proxy_url = to_str(get("proxy.egress.proxy_url", "")) or None
        elif mode == "proxy_pool":
            pool = to_list(get("proxy.egress.proxy_pool", ()))
            if not pool:  # an empty pool falls back to the single proxy, if any
                proxy_url = to_str(get("proxy.egress.proxy_url", "")) or None
        cf_clearance = "".join(
            _first(settings, ("proxy.cf_clearance", "proxy.clearance.cf_clearance"), "").split()
        )
        base = Timeouts()
        timeouts = Timeouts(
            connect=base.connect,
            first_byte=to_float(get("chat.first_byte_timeout", base.first_byte), base.first_byte),
            idle=to_float(get("chat.timeout", 60.0), 60.0),
            total=to_float(get("chat.total_timeout", base.total), base.total),
            heartbeat=base.heartbeat,
        )
        return cls(
            base_url=_first(settings, ("upstream.base_url",), DEFAULT_BASE_URL).rstrip("/"),
            assets_url=_first(settings, ("upstream.assets_url",), DEFAULT_ASSETS_URL).rstrip("/"),
            accounts_url=_first(settings, ("upstream.accounts_url",),
                                DEFAULT_ACCOUNTS_URL).rstrip("/"),
            user_agent=_first(
                settings, ("proxy.user_agent", "proxy.clearance.user_agent"), DEFAULT_USER_AGENT
            ),
            browser=_first(settings, ("proxy.browser", "proxy.clearance.browser"), DEFAULT_BROWSER),
            cf_cookies=_first(settings, ("proxy.cf_cookies", "proxy.clearance.cf_cookies"), ""),
            cf_clearance=cf_clearance,
            proxy_url=proxy_url,
            proxy_pool=pool,
            skip_ssl_verify=to_bool(get("proxy.egress.skip_ssl_verify", False), False),
            dynamic_statsig=to_bool(get("features.dynamic_statsig", True), True),
            statsig_id=_first(settings, ("upstream.statsig_id",), FIXED_STATSIG_ID),
            temporary=to_bool(get("features.temporary", True), True),
            memory=to_bool(get("features.memory", False), False),
            custom_instruction=to_str(get("features.custom_instruction", "")),
            timeouts=timeouts,
            upload_timeout=to_float(get("asset.upload_timeout", 60.0), 60.0),
        )
