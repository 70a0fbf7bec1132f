from __future__ import annotations

import base64
import random
import re
import uuid

from addons.upstream.config import FIXED_STATSIG_ID, UpstreamConfig
from addons.upstream.headers import (
    build_headers,
    client_hints,
    cookie_header,
    normalize_sso,
    redact_headers,
)
from addons.upstream.statsig import dynamic_statsig_id, statsig_message

CHILDREN = re.compile(
    r"^x1:TypeError: Cannot read properties of null \(reading 'children\[\\'[a-z0-9]{5}\\'\]'\)$"
)
UNDEFINED = re.compile(r"^x1:TypeError: Cannot read properties of undefined \(reading '[a-z]{10}'\)$")


def test_dynamic_statsig_decodes_to_one_of_the_templates() -> None:
    rng = random.Random(7)
    kinds = set()
    for _ in range(200):
        value = dynamic_statsig_id(rng)
        decoded = base64.b64decode(value, validate=True).decode()
        assert value == base64.b64encode(decoded.encode()).decode()  # standard, padded
        if CHILDREN.match(decoded):
            kinds.add("children")
        else:
            assert UNDEFINED.match(decoded), decoded
            kinds.add("undefined")
    assert kinds == {"children", "undefined"}


def test_children_template_has_escaped_quotes() -> None:
    class Heads(random.Random):
        def random(self) -> float:
            return 0.1

    msg = statsig_message(Heads(1))
    assert "children[\\'" in msg and msg.endswith("\\']')")


def test_fixed_statsig_value() -> None:
    decoded = base64.b64decode(FIXED_STATSIG_ID).decode()
    assert decoded == "e:TypeError: Cannot read properties of undefined (reading 'childNodes')"
    cfg = UpstreamConfig(dynamic_statsig=False)
    assert build_headers(cfg, "t", origin="https://grok.com", referer="https://grok.com/")[
        "x-statsig-id"] == FIXED_STATSIG_ID


def test_normalize_sso() -> None:
    assert normalize_sso("sso=abc") == "abc"
    assert normalize_sso("  SSO=ab\u200bc\ufeff \n") == "abc"
    assert normalize_sso("ab\u2013c\u201cd\u201d\u00a0e") == 'ab-c"d"e'
    assert normalize_sso("abc; sso-rw=abc") == "abc"
    assert normalize_sso("a\u4e2db") == "ab"  # Latin-1 only


def test_cookie_merge_rules() -> None:
    cfg = UpstreamConfig(cf_cookies="a=1; cf_clearance=old;  __cf_bm=x", cf_clearance="new")
    assert cookie_header(cfg, "sso=T") == "sso=T; sso-rw=T; a=1; __cf_bm=x; cf_clearance=new"
    assert cookie_header(UpstreamConfig(cf_cookies="a=1; cf_clearance=keep"), "T") == (
        "sso=T; sso-rw=T; a=1; cf_clearance=keep")
    assert cookie_header(UpstreamConfig(cf_clearance="only"), "T") == (
        "sso=T; sso-rw=T; cf_clearance=only")
    assert cookie_header(UpstreamConfig(), "T") == "sso=T; sso-rw=T"


def test_build_headers_g2_set() -> None:
    cfg = UpstreamConfig()
    h = build_headers(cfg, "tok", origin="https://grok.com", referer="https://grok.com/")
    assert h["Accept"] == "*/*"
    assert h["Accept-Encoding"] == "gzip, deflate, br, zstd"
    assert h["Accept-Language"] == "zh-CN,zh;q=0.9,en;q=0.8"
    assert h["Baggage"].startswith("sentry-environment=production,sentry-release=")
    assert h["Content-Type"] == "application/json"
    assert h["Priority"] == "u=1, i"
    assert h["Sec-Fetch-Dest"] == "empty" and h["Sec-Fetch-Mode"] == "cors"
    assert h["Sec-Fetch-Site"] == "same-origin"
    assert uuid.UUID(h["x-xai-request-id"]).version == 4
    assert h["x-xai-request-id"] != build_headers(
        cfg, "tok", origin="https://grok.com", referer="https://grok.com/")["x-xai-request-id"]
    assert h["Sec-Ch-Ua"] == '"Google Chrome";v="136", "Chromium";v="136", "Not(A:Brand";v="24"'
    assert h["Sec-Ch-Ua-Mobile"] == "?0"
    assert h["Sec-Ch-Ua-Model"] == ""
    assert h["Sec-Ch-Ua-Platform"] == '"macOS"'
    assert h["Sec-Ch-Ua-Arch"] == "x86" and h["Sec-Ch-Ua-Bitness"] == "64"
    assert h["Cookie"] == "sso=tok; sso-rw=tok"
    assert "sentry-trace" not in h and "traceparent" not in h
    assert "tok" not in str(redact_headers(h))


def test_sec_fetch_site_and_media_accept() -> None:
    cfg = UpstreamConfig()
    h = build_headers(cfg, "t", origin="https://accounts.x.ai", referer="https://grok.com/",
                      content_type="image/png")
    assert h["Sec-Fetch-Site"] == "same-site"
    assert h["Accept"].startswith("text/html,application/xhtml+xml")
    assert h["Sec-Fetch-Dest"] == "document"


def test_client_hints_by_user_agent() -> None:
    edge = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0")
    hints = dict(client_hints(edge))
    assert hints["Sec-Ch-Ua"].startswith('"Microsoft Edge";v="131"')
    assert hints["Sec-Ch-Ua-Platform"] == '"Windows"'
    android = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Mobile Safari/537.36")
    hints = dict(client_hints(android))
    assert hints["Sec-Ch-Ua-Mobile"] == "?1" and hints["Sec-Ch-Ua-Platform"] == '"Android"'
    assert "Sec-Ch-Ua-Arch" not in hints
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    assert client_hints(firefox) == ()
    safari = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.0 Safari/605.1.15")
    assert client_hints(safari) == ()
