"""Secrets out of log lines: account tokens, cookies, client keys, the admin secret, proxy
passwords.

A line is cleaned by one regular expression that knows the *shapes* secrets take (grok.com's
sso tokens are JWTs, `eyJ…`; `sso=` / `sso-rw=` / `cf_clearance=` cookie values;
`Bearer …`; `x-api-key: …`; `?app_key=…`; `"token": "…"` fields; generated client keys,
`sk-…`; the password of a URL),
plus the few secrets the settings hold (`SECRET_OPTIONS`) as literals. A token of another
shape is caught by the account pool: each long token-like word of a line is looked up in it
(one hash look-up per word, never a scan of the pool, so 100,000 accounts cost no more than
ten).

`RedactFilter` applies it to a log record, whatever logger wrote it and whatever its level
(peewee logs SQL parameters, i.e. tokens, at DEBUG): the message with its arguments, the
traceback text and the stack. `watch(settings, tokens=pool.get)` tells the filters which
settings hold the live secrets (they follow changes: a new admin secret applies to the next
line) and which pool knows the tokens, until the call it returns is made.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MASK", "SECRET_OPTIONS", "RedactFilter", "Redactor", "mask_setting", "mask_tokens",
           "secrets_of", "watch"]

#: Options whose values are secrets: masked in `grok2api config` and in every log line, and
#: never sent by the admin config API (`quart_app/admin/config.py`), which says only whether
#: each is set. A new option holding a key, a password, a cookie or a URL that may carry
#: credentials belongs here (a name nothing declares is skipped).
SECRET_OPTIONS: tuple[str, ...] = ("app.app_key", "app.api_key", "app.webui_key",
                                   "proxy.clearance.cf_cookies",
                                   "proxy.clearance.flaresolverr_url",
                                   "proxy.egress.proxy_url", "proxy.egress.proxy_pool",
                                   "proxy.egress.resource_proxy_url",
                                   "proxy.egress.resource_proxy_pool",
                                   "metrics.token", "video.webhook_secret", "video.webhook_url")
#: Options holding URLs: only the password inside is secret.
URL_OPTIONS: frozenset[str] = frozenset({"proxy.egress.proxy_url", "proxy.egress.proxy_pool",
                                         "proxy.egress.resource_proxy_url",
                                         "proxy.egress.resource_proxy_pool",
                                         "proxy.clearance.flaresolverr_url",
                                         "video.webhook_url"})
#: Public values never masked as literals (the shipped admin secret: everyone knows it, and
#: masking it would mangle every `grok2api.*` logger name).
PUBLIC_VALUES: frozenset[str] = frozenset({"grok2api"})
#: Shorter configured values are not masked as literals: they would mask ordinary words.
MIN_LITERAL = 4
#: Secrets at least this long are shown as a fingerprint (`printf %s "$TOKEN" | sha256sum`
#: finds which); shorter ones, such as a weak password, as nothing at all.
FINGERPRINT_MIN = 20
MASK = "<redacted>"

#: Each alternative is `(?P<name>prefix(?P<name_s>secret))`: the prefix stays, the secret goes.
_SHAPES: tuple[tuple[str, str], ...] = (
    # grok.com sso tokens (and any JWT): header.payload.signature, base64url
    ("jwt", r"(?P<jwt_s>eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*){0,2})"),
    # cookie values: `sso=…; sso-rw=…; cf_clearance=…`
    ("cookie", r"\b(?:sso|sso-rw|cf_clearance|__cf_bm|_cfuvid)="
               r"(?P<cookie_s>(?!<)[^;\s'\",&]+)"),
    # Authorization: Bearer …
    ("auth", r"\bbearer\s+(?P<auth_s>[A-Za-z0-9._~+/=-]{4,})"),
    # header or dict forms: `x-api-key: k`, `'x-api-key': 'k'`, `(b'x-api-key', b'k')`
    ("header", r"\b(?:x-api-key|x-goog-api-key|authorization)(?:['\"]?\s*[:=]\s*|['\"]\s*,\s*)"
               r"(?:(?-i:b)?['\"])?(?:bearer\s+)?+(?P<header_s>(?!<)[^\s'\",;}\])]+)"),
    # query parameters: `?app_key=…&…`
    ("query", r"[?&](?:app_key|api_key|apikey|key|token|sso|access_token)="
              r"(?P<query_s>(?!<)[^&\s'\"#]+)"),
    # JSON / dict fields: `"token": "…"`
    ("field", r"['\"](?:token|old_token|app_key|api_key|password|sso|cf_cookies|cf_clearance)"
              r"['\"]\s*:\s*(?-i:b)?['\"](?P<field_s>(?!<)[^'\"]+)"),
    # managed client keys as the gateway generates them: `sk-` and 32 URL-safe characters
    ("client_key", r"\b(?P<client_key_s>sk-[A-Za-z0-9_-]{20,})"),
    # the password of a URL: `scheme://user:password@host`
    ("url", r"\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:(?P<url_s>(?!<)[^@/?#\s]+)@"),
)


#: Patterns (of the lower-cased line) that every line holding a secret matches: a line with
#: none of them (most lines) costs one search and no run of the full expression. A JWT needs its
#: length, so the `eyJh…6789` labels of accounts in ordinary lines do not trigger.
_TRIGGERS: tuple[str, ...] = (r"eyj[a-z0-9_-]{10}", "sso", "cf_", "_cfuvid", "bearer",
                              "api-key", "apikey", "authorization", "app_key", "api_key",
                              r"[?&]key=", "token", "password", "@", r"\bsk-[a-z0-9_-]{20}")


#: A word that could be an account token (the characters an sso cookie value may hold).
_TOKEN_WORD = re.compile(r"[A-Za-z0-9._~+/=%-]{16,}")


def _fingerprint(secret: str) -> str:
    if len(secret) < FINGERPRINT_MIN:
        return MASK
    return f"<redacted fp:{hashlib.sha256(secret.encode()).hexdigest()[:8]}>"


class Redactor:
    """Masks secret shapes and `literals` (exact values, e.g. the configured keys)."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        words = sorted({w for w in literals if len(w) >= MIN_LITERAL and w not in PUBLIC_VALUES},
                       key=len, reverse=True)  # longest first: a key inside another goes whole
        parts = [f"(?P<{name}>{body})" for name, body in _SHAPES]
        if words:
            parts.insert(0, "(?P<lit>(?P<lit_s>" + "|".join(map(re.escape, words)) + "))")
        self._pattern = re.compile("|".join(parts), re.IGNORECASE)
        self._trigger = re.compile("|".join([*_TRIGGERS, *(re.escape(w.lower()) for w in words)]))
        self._groups = [(name, name + "_s") for name in
                        (["lit"] if words else []) + [n for n, _ in _SHAPES]]

    def _replace(self, match: re.Match[str]) -> str:
        for outer, inner in self._groups:
            if match.group(outer) is not None:
                start, end = match.span(inner)
                whole_start = match.start(outer)
                text = match.group(outer)
                return (text[:start - whole_start] + _fingerprint(match.group(inner))
                        + text[end - whole_start:])
        return match.group(0)  # pragma: no cover - one alternative always matched

    def redact(self, text: str) -> str:
        if self._trigger.search(text.lower()) is None:
            return text
        return self._pattern.sub(self._replace, text)


def secrets_of(options: Any) -> list[str]:
    """The secret values `options` holds (a `state.options.Options`), as literals to mask:
    the keys, each cookie value of the Cloudflare cookies, each proxy password."""
    out: list[str] = []
    for key in SECRET_OPTIONS:
        if key not in options:
            continue
        value = options[key]
        values = list(value) if isinstance(value, (tuple, list)) else [value]
        for item in values:
            if not isinstance(item, str) or not item.strip():
                continue
            item = item.strip()
            if key in URL_OPTIONS:
                try:
                    password = urlsplit(item).password
                except ValueError:
                    password = None
                if password:
                    out.append(password)
                continue
            out.append(item)
            if key == "proxy.clearance.cf_cookies":
                out += [v.strip() for _, _, v in (c.partition("=") for c in item.split(";"))
                        if len(v.strip()) >= 8]
    return out


def mask_setting(key: str, value: Any) -> Any:
    """`value` of option `key` fit to show: a secret masked (a URL keeps all but its
    password), anything else as it is."""
    if key not in SECRET_OPTIONS or value in ("", [], (), None):
        return value
    if isinstance(value, (list, tuple)):
        return [mask_setting(key, v) for v in value]
    if key in URL_OPTIONS and isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group(1) + "****@", value)
    return "********"


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/?#\s]+@", re.IGNORECASE)


def mask_tokens(text: str, known: Callable[[str], bool]) -> str:
    """`text` with every word `known` says is an account token masked."""
    if _TOKEN_WORD.search(text) is None:
        return text
    return _TOKEN_WORD.sub(lambda m: _fingerprint(m[0]) if known(m[0]) else m[0], text)


class _Watched:
    """The settings whose secrets every `RedactFilter` masks, and the redactor built from
    them, rebuilt when one of them changes generation; the pools whose tokens it masks."""

    def __init__(self) -> None:
        self.settings: weakref.WeakSet[Any] = weakref.WeakSet()
        self.stamp: tuple[tuple[int, int], ...] = ()
        self.redactor = Redactor()
        self.lock = threading.Lock()
        self.lookups: list[weakref.WeakMethod[Callable[[str], Any]]] = []

    def known_token(self, word: str) -> bool:
        for ref in self.lookups:
            lookup = ref()
            if lookup is not None and lookup(word) is not None:
                return True
        return False

    def current(self) -> Redactor:
        live = list(self.settings)
        stamp = tuple((id(s), s.generation) for s in live)
        if stamp != self.stamp:
            with self.lock:
                literals = [w for s in live for w in secrets_of(s.options)]
                self.redactor, self.stamp = Redactor(literals), stamp
        return self.redactor


_watched = _Watched()


def watch(settings: Any, tokens: Callable[[str], Any] | None = None) -> Callable[[], None]:
    """Mask the secrets `settings` holds (now and after each change) in every log line, and
    every word for which the bound method `tokens` (an account pool's `get`) returns
    something. Both are held weakly; the call returned stops it (a server that stopped)."""
    ref = weakref.WeakMethod(tokens) if tokens is not None else None
    with _watched.lock:
        _watched.settings.add(settings)
        if ref is not None:
            live = [r for r in _watched.lookups if r() is not None]
            _watched.lookups = [*live, ref]

    def forget() -> None:
        with _watched.lock:
            _watched.settings.discard(settings)
            _watched.lookups = [r for r in _watched.lookups if r is not ref and r() is not None]

    return forget


class RedactFilter(logging.Filter):
    """A handler filter that rewrites each record with its secrets masked: the message (with
    its arguments merged in), the traceback text and the stack. A record passes every
    handler; the work is done once."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._fixed = redactor

    def _clean(self, text: str) -> str:
        if self._fixed is not None:
            return self._fixed.redact(text)
        text = _watched.current().redact(text)
        return mask_tokens(text, _watched.known_token) if _watched.lookups else text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: show its parts, still cleaned
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self._clean(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        record.redacted = True
        return True


_EXC_FORMATTER = logging.Formatter()
