"""Secrets out of log lines: by shape, and the configured keys as they change."""
from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest

from state.redact import RedactFilter, Redactor, mask_setting, mask_tokens, secrets_of, watch
from state.options import FixedSettings
from state.settings import Settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uX2lkIjoiYWJjIn0.c2lnbmF0dXJlLTAxMjM0NTY3ODk"


@pytest.mark.parametrize("line, secret", [
    (f"('SELECT * FROM accounts WHERE token = ?', ['{TOKEN}', 5])", TOKEN),
    (f"cookie: sso={TOKEN[:30]}; sso-rw=abcdef0123456789", TOKEN[:30]),
    ("cookie: a=1; sso-rw=abcdef0123456789", "abcdef0123456789"),
    ("cf_clearance=Zq8mN2pL7xR1tV6y.1700000000-0-ABC", "Zq8mN2pL7xR1tV6y"),
    ("{'Authorization': 'Bearer sk-any-client-key-1'}", "sk-any-client-key-1"),
    ("authorization: bearer sk-any-client-key-1", "sk-any-client-key-1"),
    ("x-api-key: sk-anthropic-style-9", "sk-anthropic-style-9"),
    ("[(b'x-api-key', b'sk-in-bytes-77')]", "sk-in-bytes-77"),
    ("GET /admin/api/tokens?page=1&app_key=hunter2hunter2", "hunter2hunter2"),
    ('{"token": "short-tok", "pool": "basic"}', "short-tok"),
    ("proxy socks5h://user:pa55word@10.0.0.1:1080 refused", "pa55word"),
    ("redis://:redispass@127.0.0.1:6379/0", "redispass"),
    ("created key sk-AbCdEfGhIjKlMnOpQrStUvWx_-012345 for team", "sk-AbCdEfGhIjKlMnOpQrStUvWx_-012345"),
])
def test_secret_shapes_are_masked(line: str, secret: str) -> None:
    out = Redactor().redact(line)
    assert secret not in out and "<redacted" in out


@pytest.mark.parametrize("line", [
    "grok2api.access: POST /v1/chat/completions 200 153.2ms key=fp:1a2b3c4d",
    "account eyJh…6789 moved from basic to super (auto total 5)",
    "send Authorization: Bearer <app_key> or ?app_key=",
    "grok2api ready: 3 accounts, upstream http://127.0.0.1:8000",
    "quota scheduler: this process leads (.scheduler.lock, lease quota-refresh)",
    "task-grok2api-keys-sync-0123456789abcdef done; disk-usage-0123456789abcdefgh ok",
])
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert Redactor(["sk-configured-key"]).redact(line) == line


def test_long_secrets_keep_a_fingerprint_short_ones_nothing() -> None:
    out = Redactor().redact(f"token {TOKEN}")
    assert out.startswith("token <redacted fp:") and len(out) == len("token <redacted fp:>") + 8
    assert Redactor(["pw-short"]).redact("login pw-short") == "login <redacted>"


def test_configured_keys_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "config.toml", environ={
        "GROK_APP_API_KEY": "plain-client-key-1,plain-client-key-2"})
    forget = watch(settings)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    log = logging.getLogger("test.redact.follow")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        log.info("keys %s and %s", "plain-client-key-1", "plain-client-key-2")
        settings.set("app.app_key", "new-admin-secret")
        log.info("admin %s", "new-admin-secret")
        settings.set("app.app_key", "grok2api")  # the public default is not hidden
        log.info("default %s", "grok2api")
        forget()  # a stopped server's keys are no longer looked for
        log.info("stopped %s", "plain-client-key-1")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "new-admin-secret" not in text
    assert text.splitlines() == ["keys <redacted> and <redacted>", "admin <redacted>",
                                 "default grok2api", "stopped plain-client-key-1"]


def test_tracebacks_stacks_and_bad_format_strings_are_cleaned() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter(Redactor()))
    log = logging.getLogger("test.redact.exc")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError(f"upstream refused sso={TOKEN}")
        except RuntimeError:
            log.exception("call failed", stack_info=True)
        log.error("bad format %d", TOKEN)  # would print the argument in a logging error
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "RuntimeError: upstream refused sso=<redacted" in text and "Stack (most" in text
    assert TOKEN not in text and TOKEN[:30] not in text


def test_secrets_of_and_mask_setting() -> None:
    from state.declarers import declared_options
    from state.options import Options

    options = Options.build(declared_options(), {
        "app.app_key": "adm-secret", "app.api_key": "k1-long,k2-long",
        "proxy.clearance.cf_cookies": "cf_clearance=abcdefgh12345678; __cf_bm=zyxwvuts9876",
        "proxy.egress.proxy_url": "http://me:proxypass@10.0.0.1:3128"})
    found = secrets_of(options)
    assert {"adm-secret", "k1-long", "k2-long", "abcdefgh12345678", "zyxwvuts9876",
            "proxypass"} <= set(found)
    assert "http://me:proxypass@10.0.0.1:3128" not in found  # only the password is secret
    assert mask_setting("app.api_key", ("a", "b")) == ["********", "********"]
    assert mask_setting("proxy.egress.proxy_pool", ("http://u:p@h:1", "http://h:2")) \
        == ["http://u:****@h:1", "http://h:2"]
    assert mask_setting("features.stream", True) is True and mask_setting("app.app_key", "") == ""


def test_a_plain_line_costs_microseconds() -> None:
    """No look-up of the pool: the cost of a line does not grow with the number of tokens."""
    redactor = Redactor([f"sk-key-{i:04d}" for i in range(20)])
    line = "grok2api.access: POST /v1/chat/completions 200 153.2ms key=fp:1a2b3c4d"
    started = time.perf_counter()
    for _ in range(5000):
        redactor.redact(line)
    assert (time.perf_counter() - started) / 5000 < 50e-6


def test_tokens_of_any_shape_are_found_in_the_pool() -> None:
    class Pool:
        def __init__(self, tokens: list[str]) -> None:
            self.tokens = dict.fromkeys(tokens, True)

        def get(self, token: str) -> bool | None:
            return self.tokens.get(token)

    pool = Pool(["plain-token-value-0001", "plain-token-value-0002"])
    line = "('UPDATE accounts SET pool = ? WHERE token = ?', ['basic', 'plain-token-value-0001'])"
    assert mask_tokens(line, lambda w: pool.get(w) is not None) == \
        line.replace("plain-token-value-0001", "<redacted fp:%s>" % _fp("plain-token-value-0001"))
    watch(FixedSettings(), tokens=pool.get)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    log = logging.getLogger("test.redact.pool")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("params %r", ["plain-token-value-0002", "plain-token-value-9999"])
        del pool  # a pool that is gone is no longer asked
        log.warning("again %s", "plain-token-value-0001")
    finally:
        log.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert "plain-token-value-0002" not in first and "plain-token-value-9999" in first
    assert second == "again plain-token-value-0001"


def _fp(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]
