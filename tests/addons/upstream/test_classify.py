from __future__ import annotations

from addons.upstream.classify import excerpt, invalid_credentials_marker, is_cloudflare_challenge


def test_invalid_credentials_markers() -> None:
    body = '{"error":{"code":16,"message":"bad [WKE=unauthorized:Invalid-Credentials]","details":[]}}'
    assert invalid_credentials_marker(body) == "invalid-credentials"
    assert invalid_credentials_marker('{"message":"User is blocked [WKE=unauthorized:blocked-user]"}') == "blocked-user"
    assert invalid_credentials_marker("Token EXPIRED") == "token expired"
    assert invalid_credentials_marker('{"error":{"message":"Request rejected by anti-bot rules."}}') is None
    assert invalid_credentials_marker("") is None


def test_cloudflare_challenge_detection() -> None:
    html = "<!doctype html><title>Just a moment...</title><script src=/cdn-cgi/challenge-platform/x>"
    assert is_cloudflare_challenge(403, {"Server": "cloudflare"}, html)
    assert is_cloudflare_challenge(403, {"server": "cloudflare", "content-type": "text/html"}, "<html>")
    anti_bot = '{"error":{"message":"Request rejected by anti-bot rules.","code":7}}'
    assert not is_cloudflare_challenge(403, {"server": "cloudflare", "content-type": "application/json"},
                                       anti_bot)
    assert not is_cloudflare_challenge(200, {"server": "cloudflare"}, html)


def test_excerpt_sanitised_and_limited() -> None:
    body = "Cookie: sso=SECRET1; sso-rw=SECRET1\nset sso=SECRET2; cf_clearance=SECRET3 " + "x" * 500
    out = excerpt(body, 120)
    assert "SECRET" not in out and len(out) <= 120 and "\n" not in out
    assert "SECRET" not in excerpt(b'{"jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc"}')
    assert excerpt("short") == "short"
