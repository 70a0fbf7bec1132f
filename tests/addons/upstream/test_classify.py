from __future__ import annotations

import pytest

from addons.errors import failure_error
from addons.events import EMPTY_RESPONSE, UpstreamFailure
from addons.upstream import classify as kinds
from addons.upstream.base import TransportError, UpstreamTimeout
from addons.upstream.classify import (
    account_code, account_reason, excerpt, failure_kind, invalid_credentials_marker,
    is_cloudflare_challenge, transport_failure,
)


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


# ---------------------------------------------------------------------- failure kinds
CLOUDFLARE = ('<!doctype html><html><head><title>Just a moment...</title></head><body>'
              '<div id="challenge-platform">Checking your browser</div>'
              "<script>window.__cf_chl_opt={cType:'managed'};</script></body></html>")


@pytest.mark.parametrize(("failure", "kind"), [
    (UpstreamFailure(429, "Too many requests", '{"error":{"code":8,"message":"Too many requests"}}'),
     kinds.RATE_LIMITED),
    (UpstreamFailure(429, "You've reached your usage limit.", '{"result":{"response":{"error":'
                     '{"message":"You\'ve reached your usage limit."}}}}'), kinds.RATE_LIMITED),
    (UpstreamFailure(429, "Just a moment...", CLOUDFLARE), kinds.CHALLENGE),
    (UpstreamFailure(403, "Just a moment...", CLOUDFLARE), kinds.CHALLENGE),
    (UpstreamFailure(403, "anti-bot", '{"error":{"message":"Request rejected by anti-bot rules.",'
                     '"code":7}}'), kinds.ANTI_BOT),
    (UpstreamFailure(502, "Request rejected by anti-bot rules.",
                     '{"error":{"message":"Request rejected by anti-bot rules.","code":7}}'),
     kinds.ANTI_BOT),  # the in-band form, as the first frame of a 200
    (UpstreamFailure(403, "denied", '{"code":7,"message":"permission denied","details":[]}'),
     kinds.ANTI_BOT),  # a bare code 7 with no account marker: the same refusal, un-nested
    (UpstreamFailure(502, "anti-bot rejected", '{"type":"error","error":{"code":"anti_bot",'
                     '"message":"rejected"}}'), kinds.ANTI_BOT),  # an mgw error event
    (UpstreamFailure(403, "blocked", '{"error":{"code":7,"message":"User is blocked '
                     '[WKE=unauthorized:blocked-user]","details":[]}}'), kinds.CREDENTIALS),
    (UpstreamFailure(403, "blocked", '{"code":"unauthorized:blocked-user","error":"User is '
                     'blocked"}'), kinds.CREDENTIALS),  # the console-style body
    (UpstreamFailure(403, "rejected", '{"error":{"code":7,"message":"Email domain rejected '
                     '[WKE=account:email-domain-rejected]"}}'), kinds.CREDENTIALS),
    (UpstreamFailure(401, "bad", '{"error":{"code":16,"message":"Bad credentials '
                     '[WKE=unauthenticated:bad-credentials]"}}'), kinds.CREDENTIALS),
    (UpstreamFailure(403, "rejected", '{"error":{"code":"content-moderated"}}'), kinds.FORBIDDEN),
    (UpstreamFailure(403, "", ""), kinds.FORBIDDEN),
    (UpstreamFailure(401, "x", '{"error":{"code":16,"message":"[WKE=unauthorized:invalid-'
                     'credentials]"}}'), kinds.CREDENTIALS),
    (UpstreamFailure(401, "unauthorized", '{"error":"unauthorized"}'), kinds.UNAUTHORIZED),
    (UpstreamFailure(400, "bad", '{"error":{"code":3,"message":"bad"}}'), kinds.REJECTED),
    (UpstreamFailure(500, "internal", '{"error":{"code":13}}'), kinds.SERVER_ERROR),
    (UpstreamFailure(503, "busy", "<html><body>503 Service Unavailable</body></html>"),
     kinds.SERVER_ERROR),
    (UpstreamFailure(502, "internal", '{"result":{"response":{"modelResponse":{"streamErrors":'
                     '[{"code":13,"message":"internal"}]}}}}'), kinds.SERVER_ERROR),
    (UpstreamFailure(502, "invalid argument", '{"error":{"code":3,"message":"invalid"}}'),
     kinds.REJECTED),  # an in-band error that blames the request
    (UpstreamFailure(502, "upstream answer was empty", code=EMPTY_RESPONSE), kinds.EMPTY),
    (transport_failure(TransportError("upstream connection failed (curl 18): transfer closed")),
     kinds.CONNECTION),
    (transport_failure(UpstreamTimeout("idle", 60)), kinds.TIMEOUT),
    (UpstreamFailure(504, "gateway timeout", "<html>504</html>"), kinds.TIMEOUT),
])
def test_failure_kinds(failure, kind) -> None:
    assert failure_kind(failure) == kind


def test_a_transport_failure_is_tagged_not_taken_for_an_http_answer() -> None:
    cut = transport_failure(TransportError("curl: (18) transfer closed"))
    assert (cut.status, cut.code) == (502, kinds.TRANSPORT_CODE)
    stalled = transport_failure(UpstreamTimeout("first_byte", 30))
    assert (stalled.status, stalled.code) == (504, kinds.TIMEOUT_CODE)


def test_an_html_page_is_excerpted_as_its_text() -> None:
    out = excerpt(CLOUDFLARE, 80)
    assert out.startswith("[html] Just a moment...") and "Checking your browser" in out
    assert "<" not in out and "__cf_chl_opt" not in out and "cType" not in out
    page = "<html><head><style>body{color:red}</style></head><body><h1>502 Bad Gateway</h1>" \
           "<p>cf_clearance=SECRET&amp;more</p></body></html>"
    assert excerpt(page) == "[html] 502 Bad Gateway cf_clearance=<redacted>"


@pytest.mark.parametrize(("body", "status", "reason", "last_error"), [
    ('{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}', 403,
     "blocked-user", "403 unauthorized:blocked-user"),
    ('{"code":"unauthorized:blocked-user","error":"User is blocked"}', 403,
     "blocked-user", "403 unauthorized:blocked-user"),
    ('{"error":{"code":7,"message":"x [WKE=account:email-domain-rejected]"}}', 400,
     "email-domain-rejected", "400 account:email-domain-rejected"),
    ('{"error":{"code":16,"message":"x [WKE=unauthenticated:bad-credentials]"}}', 401,
     "bad-credentials", "401 unauthenticated:bad-credentials"),
    ('{"error":"session not found"}', 401, "session not found", "401 session not found"),
])
def test_an_account_code_names_the_reason_and_the_last_error(body, status, reason,
                                                              last_error) -> None:
    failure = UpstreamFailure(status, "x", body)
    assert failure_kind(failure) == kinds.CREDENTIALS
    assert account_reason(failure) == (reason, last_error)


def test_account_code_reads_wke_markers_only() -> None:
    assert account_code("x [WKE=Unauthorized:Blocked-User] y") == "unauthorized:blocked-user"
    assert account_code('{"error":{"message":"Request rejected by anti-bot rules.","code":7}}') \
        is None
    assert account_code("") is None


# ---------------------------------------------------------------------- client messages
@pytest.mark.parametrize(("failure", "status", "code", "says"), [
    (UpstreamFailure(503, "x", CLOUDFLARE), 502, "upstream_error", "upstream 503, challenge"),
    (UpstreamFailure(403, "x", CLOUDFLARE), 403, "upstream_error", "upstream 403, challenge"),
    (UpstreamFailure(403, "x", '{"error":{"message":"Request rejected by anti-bot rules.",'
                     '"code":7}}'), 403, "upstream_error", "upstream 403, anti_bot"),
    (UpstreamFailure(502, "<html>nginx</html>", "<html>nginx</html>"), 502, "upstream_error",
     "upstream 502, server_error"),
    (transport_failure(TransportError("upstream connection failed (curl 18): curl: (18) "
                                      "transfer closed with outstanding read data remaining")),
     502, "upstream_error", "(connection)"),
    (transport_failure(UpstreamTimeout("idle", 60)), 504, "stream_idle_timeout", "(timeout)"),
    (UpstreamFailure(429, "Too many requests", '{"error":{"code":8}}'), 429,
     "rate_limit_exceeded", "upstream 429, rate_limited"),
    (UpstreamFailure(502, "empty", code=EMPTY_RESPONSE), 502, "empty_response", "without any"),
])
def test_clients_get_the_status_and_the_kind_never_the_upstream_text(failure, status, code,
                                                                      says) -> None:
    err = failure_error(failure)
    assert (err.status, err.code) == (status, code)
    assert says in err.message
    for leak in ("<", "nginx", "Just a moment", "curl", "outstanding", "Too many requests"):
        assert leak not in err.message, err.message
