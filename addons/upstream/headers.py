"""Request headers for grok.com REST calls (docs/upstream.md, "Headers and cookies").

The returned dict carries the account's `sso` token in `Cookie`: never log it; log
`redact_headers(headers)` instead.
"""
from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping
from urllib.parse import urlsplit

from addons.upstream.statsig import dynamic_statsig_id

if TYPE_CHECKING:  # pragma: no cover
    from addons.upstream.config import UpstreamConfig

BAGGAGE = (
    "sentry-environment=production,sentry-release=d6add6fb0460641fd482d767a335ef72b9b6abb8,"
    "sentry-public_key=b311e0f2690c81f25e2c4cf6d4f7ce1c"
)
ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
_MEDIA_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8"
)
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "video/mp4", "video/webm"})

# "Smart" punctuation → ASCII, spaces → removed with the rest of the whitespace.
_SMART = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
        "\u00a0": " ", "\u2007": " ", "\u202f": " ",
        "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
    }
)


def normalize_sso(raw: str) -> str:
    """The bare `sso` value: strip `sso=`, cut at `;`, map smart punctuation, drop
    whitespace, zero-width characters, BOM and anything outside Latin-1."""
    text = (raw or "").translate(_SMART).strip()
    if text[:4].lower() == "sso=":
        text = text[4:]
    text = text.split(";", 1)[0]
    text = "".join(text.split())
    return "".join(ch for ch in text if ord(ch) < 256 and ch.isprintable())


def cookie_header(cfg: UpstreamConfig, token: str) -> str:
    """`sso=<t>; sso-rw=<t>` plus the Cloudflare cookie string, with `cf_clearance`
    replaced or appended when a bare clearance value is configured."""
    sso = normalize_sso(token)
    parts = [f"sso={sso}", f"sso-rw={sso}"]
    cf = [p.strip() for p in (cfg.cf_cookies or "").split(";") if p.strip()]
    if cfg.cf_clearance:
        cf = [p for p in cf if not p.lower().startswith("cf_clearance=")]
        cf.append(f"cf_clearance={cfg.cf_clearance}")
    parts.extend(p for p in cf if not p.lower().startswith(("sso=", "sso-rw=")))
    return "; ".join(parts)


@lru_cache(maxsize=32)
def client_hints(user_agent: str, browser: str = "") -> tuple[tuple[str, str], ...]:
    """`Sec-Ch-Ua*` headers for Chromium-family UAs; none for Firefox/Safari."""
    ua = user_agent or ""
    if "Firefox/" in ua or ("Chrome/" not in ua and "Chromium/" not in ua and "CriOS/" not in ua):
        return ()
    if "Edg/" in ua or "EdgA/" in ua or "EdgiOS/" in ua:
        brand = "Microsoft Edge"
    elif "Brave" in ua:
        brand = "Brave"
    elif "Chrome/" in ua or "CriOS/" in ua:
        brand = "Google Chrome"
    else:
        brand = "Chromium"
    m = re.search(r"(?:Chrome|Chromium|CriOS)/(\d+)", ua) or re.search(r"(\d+)", browser or "")
    major = m.group(1) if m else "136"
    if brand == "Chromium":
        sec_ch_ua = f'"Chromium";v="{major}", "Not(A:Brand";v="24"'
    else:
        sec_ch_ua = f'"{brand}";v="{major}", "Chromium";v="{major}", "Not(A:Brand";v="24"'
    low = ua.lower()
    if "android" in low:
        platform = "Android"
    elif "iphone" in low or "ipad" in low:
        platform = "iOS"
    elif "windows" in low:
        platform = "Windows"
    elif "mac os x" in low or "macintosh" in low:
        platform = "macOS"
    elif "linux" in low or "x11" in low or "cros" in low:
        platform = "Linux"
    else:
        platform = ""
    mobile = "?1" if platform in ("Android", "iOS") or "mobile" in low else "?0"
    hints = [("Sec-Ch-Ua", sec_ch_ua), ("Sec-Ch-Ua-Mobile", mobile), ("Sec-Ch-Ua-Model", "")]
    if platform:
        hints.append(("Sec-Ch-Ua-Platform", f'"{platform}"'))
    if platform not in ("Android", "iOS"):
        if any(k in low for k in ("arm64", "aarch64", "arm;")):
            arch = "arm"
        elif any(k in low for k in ("x86_64", "x64", "win64", "wow64", "intel", "i686", "amd64")):
            arch = "x86"
        else:
            arch = ""
        if arch:
            hints.append(("Sec-Ch-Ua-Arch", arch))
            hints.append(("Sec-Ch-Ua-Bitness", "64"))
    return tuple(hints)


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def build_headers(
    cfg: UpstreamConfig,
    token: str,
    *,
    origin: str | None,
    referer: str | None,
    content_type: str | None = "application/json",
    fresh_statsig: bool = False,
) -> dict[str, str]:
    """The header set for one REST call. `origin=None` omits Origin (navigations).
    `fresh_statsig` generates the `x-statsig-id` even when a fixed one is configured (a try
    after grok.com's anti-bot rules refused the configured value)."""
    media = content_type in _MEDIA_TYPES
    headers: dict[str, str] = {
        "Accept": _MEDIA_ACCEPT if media else "*/*",
        "Accept-Encoding": ACCEPT_ENCODING,
        "Accept-Language": ACCEPT_LANGUAGE,
        "Baggage": BAGGAGE,
    }
    if content_type:
        headers["Content-Type"] = content_type
    if origin:
        headers["Origin"] = origin
    headers["Priority"] = "u=1, i"
    if referer:
        headers["Referer"] = referer
    headers["Sec-Fetch-Dest"] = "document" if media else "empty"
    headers["Sec-Fetch-Mode"] = "cors"
    same = not origin or not referer or _host(origin) == _host(referer)
    headers["Sec-Fetch-Site"] = "same-origin" if same else "same-site"
    headers["User-Agent"] = cfg.user_agent
    headers["x-statsig-id"] = (dynamic_statsig_id() if cfg.dynamic_statsig or fresh_statsig
                               else cfg.statsig_id)
    headers["x-xai-request-id"] = str(uuid.uuid4())
    headers.update(client_hints(cfg.user_agent, cfg.browser))
    headers["Cookie"] = cookie_header(cfg, token)
    return headers


_SECRET_HEADERS = frozenset({"cookie", "authorization", "x-statsig-id"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: cookie/authorization values replaced."""
    return {k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}
