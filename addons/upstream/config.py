"""Upstream (grok.com client) settings, resolved once from the checked settings.

`UpstreamConfig.from_settings(settings)` reads `settings.options`; the legacy flat
`proxy.*` keys have already been folded into `proxy.clearance.*` by the settings (a non-empty
flat key wins, because external cookie refreshers write those).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

from addons.upstream.base import Timeouts
from state.options import Loader

DEFAULT_BASE_URL = "https://grok.com"
#: Origin/Referer host grok.com checks, whatever base URL (mirror, simulator) we reach it through.
GROK_ORIGIN = "https://grok.com"
DEFAULT_ASSETS_URL = "https://assets.grok.com"
#: The account service (the terms-of-service call); `upstream.accounts_url` may point elsewhere
#: (the simulator serves its paths on its single origin).
DEFAULT_ACCOUNTS_URL = "https://accounts.x.ai"
#: xAI's developer console (console models, TTS, STT); may carry a path prefix (a proxy, the
#: simulator's `/console`)
DEFAULT_CONSOLE_URL = "https://console.x.ai"
#: Origin/Referer host accounts.x.ai checks, whatever URL we reach it through.
ACCOUNTS_ORIGIN = "https://accounts.x.ai"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36"
)
DEFAULT_BROWSER = "chrome136"
DEFAULT_UPLOAD_TIMEOUT = 60.0
#: The documented fixed `x-statsig-id` fallback (decodes to an `e:TypeError …` string).
FIXED_STATSIG_ID = (
    "ZTpUeXBlRXJyb3I6IENhbm5vdCByZWFkIHByb3BlcnRpZXMgb2YgdW5kZWZpbmVkIChyZWFkaW5nICdjaGls"
    "ZE5vZGVzJyk="
)

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
    console_url: str = DEFAULT_CONSOLE_URL
    user_agent: str = DEFAULT_USER_AGENT
    browser: str = DEFAULT_BROWSER
    cf_cookies: str = ""
    cf_clearance: str = ""
    proxy_url: str | None = None  # single_proxy mode
    proxy_pool: tuple[str, ...] = ()  # proxy_pool mode
    #: media downloads (generated images and videos); empty: the API egress above
    resource_proxy_url: str | None = None
    resource_proxy_pool: tuple[str, ...] = ()
    skip_ssl_verify: bool = False
    dynamic_statsig: bool = True
    statsig_id: str = FIXED_STATSIG_ID
    temporary: bool = True
    memory: bool = False
    custom_instruction: str = ""
    enable_nsfw: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT
    _rr: _RoundRobin = field(init=False, compare=False, repr=False)
    _resource_rr: _RoundRobin = field(init=False, compare=False, repr=False)

    @staticmethod
    def load(loader: Loader) -> None:
        add = loader.add_option
        add("upstream.base_url", str, DEFAULT_BASE_URL,
            "grok.com web origin (or your reverse proxy of it, or the simulator); with a plain "
            "http:// URL the client pins HTTP/1.1. Read at startup.")
        add("upstream.assets_url", str, DEFAULT_ASSETS_URL,
            "Origin of generated and uploaded assets.")
        add("upstream.accounts_url", str, DEFAULT_ACCOUNTS_URL,
            "Account service origin (terms of service step of the NSFW sequence); the simulator "
            "serves its paths on its own origin, so point this at the simulator together with "
            "base_url.")
        add("upstream.console_url", str, DEFAULT_CONSOLE_URL,
            "Base URL of xAI's developer console, which serves the console models "
            "(`grok-4.3`, `grok-4.3-high`, …), text to speech and speech to text with the "
            "accounts tagged `console`. Like assets_url it may carry a path prefix (a proxy, "
            "the simulator's `/console`). Read at startup.")
        add("upstream.statsig_id", str, "",
            "Fixed x-statsig-id sent when features.dynamic_statsig is false; empty = a "
            "built-in value.")
        add("features.dynamic_statsig", bool, True,
            "Generate a fresh x-statsig-id per request; false sends upstream.statsig_id.")
        add("features.temporary", bool, True,
            "Upstream conversations are temporary (not saved in the account's history).")
        add("features.memory", bool, False, "Grok memory (cross-conversation personalisation).")
        add("features.custom_instruction", str, "",
            "Global instruction added to every chat request.")
        add("features.enable_nsfw", bool, True,
            "Ask for NSFW images (imagine `enable_nsfw`) on accounts that went through the NSFW "
            "sequence (tag `nsfw`); R-rated images are only returned then.")
        add("proxy.egress.mode", str, "direct", "Egress mode. Read at startup, like every "
            "proxy.egress key.",
            choices=("direct", "single_proxy", "proxy_pool"))
        add("proxy.egress.proxy_url", str, "",
            "Proxy for API traffic (required by single_proxy); http, https, socks5 or socks5h.")
        add("proxy.egress.proxy_pool", list[str], [],
            "Proxies for proxy_pool, one per element (a newline- or comma-separated string also "
            "works); an empty pool falls back to proxy_url.")
        add("proxy.egress.resource_proxy_url", str, "",
            "Proxy for downloads of generated images and videos (e.g. one near the asset CDN); "
            "empty = the API egress.")
        add("proxy.egress.resource_proxy_pool", list[str], [],
            "Proxies for those downloads, used in turn; empty = resource_proxy_url.")
        add("proxy.egress.skip_ssl_verify", bool, False, "Accept self-signed proxy certificates.")
        add("proxy.clearance.cf_cookies", str, "",
            "The full Cloudflare cookie string sent to grok.com. The older flat keys "
            "proxy.cf_cookies and proxy.cf_clearance (a bare cf_clearance value) still work.")
        add("proxy.clearance.user_agent", str, DEFAULT_USER_AGENT,
            "User-Agent; must match the browser that produced the cookies.")
        add("proxy.clearance.browser", str, DEFAULT_BROWSER,
            "TLS/HTTP fingerprint profile to impersonate. Read at startup.")
        base = Timeouts()
        add("chat.timeout", float, base.idle, "Idle seconds allowed between two upstream frames.")
        add("chat.first_byte_timeout", float, base.first_byte,
            "Seconds allowed until the first upstream byte.")
        add("chat.total_timeout", float, base.total, "Seconds allowed for a whole upstream answer.")
        add("asset.upload_timeout", float, DEFAULT_UPLOAD_TIMEOUT,
            "Upload timeout of a file sent to grok.com, seconds.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rr", _RoundRobin(tuple(self.proxy_pool)))
        object.__setattr__(self, "_resource_rr", _RoundRobin(tuple(self.resource_proxy_pool)))

    @property
    def http1_only(self) -> bool:
        """Plain http:// (the simulator): pin HTTP/1.1, or a reused connection fails."""
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
        """Accept the terms of service: gRPC-web on accounts.x.ai."""
        return f"{self.accounts_url}/auth_mgmt.AuthManagement/SetTosAcceptedVersion"

    @property
    def birth_date_url(self) -> str:
        """Set an adult birth date (REST)."""
        return f"{self.base_url}/rest/auth/set-birth-date"

    @property
    def feature_controls_url(self) -> str:
        """Turn NSFW content on or off: gRPC-web on grok.com."""
        return f"{self.base_url}/auth_mgmt.AuthManagement/UpdateUserFeatureControls"

    def pick_proxy(self) -> str | None:
        """The proxy for one request: the single proxy, or the next of the pool, or None."""
        if self.proxy_pool:
            return self._rr.next()
        return self.proxy_url

    def pick_resource_proxy(self) -> str | None:
        """The proxy for one media download: the resource pool's next, the resource proxy,
        else the API egress's."""
        if self.resource_proxy_pool:
            return self._resource_rr.next()
        return self.resource_proxy_url or self.pick_proxy()

    @classmethod
    def from_settings(cls, settings: Any) -> UpstreamConfig:
        opts = settings.options
        egress, clearance = opts.proxy.egress, opts.proxy.clearance
        proxy_url: str | None = None
        pool: tuple[str, ...] = ()
        if egress.mode == "single_proxy":
            proxy_url = egress.proxy_url.strip() or None
        elif egress.mode == "proxy_pool":
            pool = egress.proxy_pool
            if not pool:  # an empty pool falls back to the single proxy, if any
                proxy_url = egress.proxy_url.strip() or None
        base = Timeouts()
        timeouts = Timeouts(
            connect=base.connect,
            first_byte=_positive(opts.chat.first_byte_timeout, base.first_byte),
            idle=_positive(opts.chat.timeout, base.idle),
            total=_positive(opts.chat.total_timeout, base.total),
            heartbeat=base.heartbeat,
        )
        upstream, features = opts.upstream, opts.features
        return cls(
            base_url=_url(upstream.base_url, DEFAULT_BASE_URL),
            assets_url=_url(upstream.assets_url, DEFAULT_ASSETS_URL),
            accounts_url=_url(upstream.accounts_url, DEFAULT_ACCOUNTS_URL),
            console_url=_url(upstream.console_url, DEFAULT_CONSOLE_URL),
            user_agent=clearance.user_agent.strip() or DEFAULT_USER_AGENT,
            browser=clearance.browser.strip() or DEFAULT_BROWSER,
            cf_cookies=clearance.cf_cookies.strip(),
            proxy_url=proxy_url,
            proxy_pool=pool,
            resource_proxy_url=egress.resource_proxy_url.strip() or None,
            resource_proxy_pool=egress.resource_proxy_pool,
            skip_ssl_verify=egress.skip_ssl_verify,
            dynamic_statsig=features.dynamic_statsig,
            statsig_id=upstream.statsig_id.strip() or FIXED_STATSIG_ID,
            temporary=features.temporary,
            memory=features.memory,
            custom_instruction=features.custom_instruction.strip(),
            enable_nsfw=features.enable_nsfw,
            timeouts=timeouts,
            upload_timeout=_positive(opts.asset.upload_timeout, DEFAULT_UPLOAD_TIMEOUT),
        )


def _url(value: str, fallback: str) -> str:
    """An origin without its trailing slash; an empty one means the built-in origin."""
    return value.strip().rstrip("/") or fallback


def _positive(value: float, fallback: float) -> float:
    """A timeout of 0 or less would fire at once: the built-in value instead."""
    return value if value > 0 else fallback
