"""The retry addon on its own: its `responseheaders` hook called on a test flow whose try
failed, as mitmproxy tests call one addon hook on a `tflow()`.

Each test leases a real account from an in-memory pool, sets the failure the upstream gave,
and checks what the client and the pool would see: a retry asked for or not, the error that
would end the request, the account's state afterwards."""
from __future__ import annotations

import logging
import time

import pytest

from addons.events import EMPTY_RESPONSE, UpstreamFailure
from addons.flow import Attempt, Continued, Flow
from addons.retry import RANDOM_MAX_RETRIES, Retry
from addons.testflow import tflow
from state.account import token_label
from state.pool import AccountPool
from state.settings import Settings

TOKENS = [f"tok-{name}-0123456789abcdef-secret" for name in
          ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")]
EXPIRED_BODY = '{"error":{"code":16,"message":"[WKE=unauthorized:invalid-credentials]"}}'


def make_settings(tmp_path, **env: str) -> Settings:
    return Settings(tmp_path / "config.toml",
                    environ={"GROK_RETRY_BACKOFF_BASE_MS": "0", **env})


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def pool():
    pool = AccountPool(None)
    for token in TOKENS:
        pool.add(token, pool="basic")
    return pool


def fail(flow: Flow, pool: AccountPool, status: int, message: str = "upstream said no",
         body: str = "", code: str = "") -> Flow:
    """The next try of `flow`: a fresh account leased, and the upstream's failure on it."""
    if flow.lease is not None:
        pool.release(flow.lease)
    lease = pool.select(("basic",), "fast", exclude=flow.tried)
    assert lease is not None, "the test ran out of accounts"
    flow.lease = lease
    flow.tried.append(lease.token)
    flow.attempt = Attempt(flow.attempt.number + 1, mode="fast",
                           failure=UpstreamFailure(status, message, body, code))
    return flow


USAGE_LIMIT = ('{"result":{"response":{"error":{"message":"You\'ve reached your usage limit. '
               'Please try again later."}}}}')


@pytest.mark.parametrize("failure", [
    UpstreamFailure(429, "Too many requests", '{"error":{"code":8,"message":"Too many requests"}}'),
    UpstreamFailure(429, "You've reached your usage limit. Please try again later.", USAGE_LIMIT),
], ids=["rate-limit", "usage-limit"])
def test_a_chat_429_cools_that_mode_and_asks_for_a_retry(settings, pool, failure):
    retry = Retry(pool, settings)
    flow = fail(tflow(), pool, 429)
    flow.attempt.failure = failure
    retry.responseheaders(flow)
    acc = flow.lease.account
    assert flow.attempt.retry and flow.error is None
    assert acc.status == "active" and acc.cooldown_until is None  # not the whole account
    assert pool.mode_cooling(acc.token, "fast")
    # no probe was asked for (none bound): the short first cooldown
    assert acc.mode_cooldown("fast")["until"] <= time.time() * 1000 + 61_000
    assert flow.last_error.status == 429  # what ends the flow if no account is left


def test_a_429_is_followed_by_a_probe_of_that_account_and_mode(settings, pool):
    asked = []

    class Refresher:
        def probe_rate_limited(self, token, mode):
            asked.append((token, mode))

    retry = Retry(pool, settings)
    retry.bind_refresher(Refresher())
    retry.responseheaders(fail(tflow(), pool, 503))
    assert asked == []
    flow = fail(tflow(), pool, 429)
    retry.responseheaders(flow)
    assert asked == [(flow.lease.token, "fast")]


@pytest.mark.parametrize("failure", [
    UpstreamFailure(500, "internal", '{"error":{"code":13,"message":"internal"}}'),
    UpstreamFailure(502, "<html>bad gateway</html>", "<html><title>502</title></html>"),
    UpstreamFailure(503, "busy", '{"error":{"code":14,"message":"Service unavailable"}}'),
    UpstreamFailure(502, "upstream connection failed (curl 18): transfer closed", code="transport"),
    UpstreamFailure(504, "upstream idle timeout after 60s", code="timeout"),
    UpstreamFailure(502, "internal", '{"result":{"response":{"modelResponse":'
                    '{"streamErrors":[{"code":13,"message":"internal"}]}}}}'),
    UpstreamFailure(403, "Just a moment...", "<!doctype html><title>Just a moment...</title>"),
], ids=["500", "502-html", "503", "cut", "stall", "stream-errors", "cloudflare"])
def test_upstream_failures_never_take_an_account_out(tmp_path, failure):
    pool = AccountPool(None)
    pool.add(TOKENS[0])
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_ON_CODES="429,500,502,503,504"))
    for _ in range(20):
        flow = tflow()
        flow.lease = pool.select(("basic",), "fast")
        assert flow.lease is not None, "the account was taken out"
        flow.tried.append(flow.lease.token)
        flow.attempt = Attempt(1, mode="fast", failure=failure)
        retry.responseheaders(flow)
        pool.release(flow.lease)
    acc = pool.get(TOKENS[0])
    assert acc.status == "active" and not pool.mode_cooling(acc.token, "fast")
    assert acc.usage_fail_count == 20  # counted for the operator


def test_a_failure_the_breaker_blames_on_the_upstream_leaves_the_account_alone(settings, pool):
    flow = fail(tflow(), pool, 429)
    flow.attempt.upstream_wide = True
    Retry(pool, settings).responseheaders(flow)
    acc = flow.lease.account
    assert not pool.mode_cooling(acc.token, "fast") and acc.health == 1.0
    assert acc.usage_fail_count == 0
    assert flow.attempt.retry  # the breaker, not retry, decides whether it is sent


@pytest.mark.parametrize("failure, leaked", [
    (UpstreamFailure(503, "Just a moment...", '<!doctype html><html><head><title>Just a moment'
                     '...</title></head><body><div id="challenge-platform">x</div></body></html>'),
     ("<", "Just a moment", "challenge-platform")),
    (UpstreamFailure(502, "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
                     "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"),
     ("<", "nginx")),
    (UpstreamFailure(502, "upstream connection failed (curl 18): curl: (18) transfer closed with "
                     "outstanding read data remaining", code="transport"),
     ("curl", "outstanding")),
])
def test_the_client_never_sees_the_upstream_page_or_the_transport_text(tmp_path, pool, failure,
                                                                      leaked):
    flow = fail(tflow(), pool, failure.status)
    flow.attempt.failure = failure
    Retry(pool, make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0")).responseheaders(flow)
    message = flow.error.message
    assert all(text not in message for text in leaked), message
    assert flow.error.status == 502 and len(message) < 120
    if failure.code != "transport":
        assert f"upstream {failure.status}" in message  # the upstream status is named
    assert any(k in message for k in ("challenge", "server_error", "connection")), message


def test_the_last_429_within_max_retries_ends_the_flow_as_a_rate_limit(tmp_path, pool):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="2"))
    flow = tflow()
    for _ in range(2):
        retry.responseheaders(fail(flow, pool, 429))
        assert flow.attempt.retry
    retry.responseheaders(fail(flow, pool, 429))
    assert not flow.attempt.retry
    assert (flow.error.status, flow.error.code) == (429, "rate_limit_exceeded")
    assert all(pool.mode_cooling(t, "fast") for t in flow.tried)


def test_a_status_not_in_on_codes_does_not_retry(tmp_path, pool):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_ON_CODES="429,401,503"))
    flow = fail(tflow(), pool, 500, "internal error")
    retry.responseheaders(flow)
    assert not flow.attempt.retry
    assert (flow.error.status, flow.error.code) == (502, "upstream_error")
    assert "500" in flow.error.message
    acc = flow.lease.account
    assert acc.consecutive_failures == 1 and acc.status == "active"  # fed back, not cooled


def test_on_codes_decides_which_statuses_switch(tmp_path, pool):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_ON_CODES="500"))
    flow = fail(tflow(), pool, 500)
    retry.responseheaders(flow)
    assert flow.attempt.retry
    other = fail(tflow(), pool, 429)
    retry.responseheaders(other)
    assert not other.attempt.retry


def test_the_budget_is_spent_per_flow(settings, pool):
    retry = Retry(pool, settings)  # max_retries = 1
    first, second = tflow(), tflow()
    retry.responseheaders(fail(first, pool, 503))
    assert first.attempt.retry
    retry.responseheaders(fail(first, pool, 503))
    assert not first.attempt.retry and first.error.status == 502
    # another request has its own budget, whatever the first one spent
    retry.responseheaders(fail(second, pool, 503))
    assert second.attempt.retry


def test_max_retries_zero_never_switches(tmp_path, pool):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0"))
    flow = fail(tflow(), pool, 429)
    retry.responseheaders(flow)
    assert not flow.attempt.retry and flow.error.status == 429


@pytest.mark.parametrize("status", [400, 401, 403])
def test_invalid_credentials_expire_the_account_and_switch_for_free(tmp_path, pool, status):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0"))
    flow = tflow()
    for _ in range(3):
        retry.responseheaders(fail(flow, pool, status, body=EXPIRED_BODY))
        assert flow.attempt.retry and flow.error is None  # budget 0, still switching
    assert [pool.get(t).status for t in flow.tried] == ["expired"] * 3
    assert pool.get(flow.tried[0]).state_reason == "invalid-credentials"


def test_free_switches_leave_the_budget_for_a_real_failure(settings, pool):
    retry = Retry(pool, settings)  # max_retries = 1
    flow = tflow()
    retry.responseheaders(fail(flow, pool, 401, body=EXPIRED_BODY))
    retry.responseheaders(fail(flow, pool, 429))
    assert flow.attempt.retry  # the one retry was not used by the expired account
    retry.responseheaders(fail(flow, pool, 429))
    assert not flow.attempt.retry


def test_a_plain_401_takes_the_account_out_of_rotation_without_expiring_it(settings, pool):
    retry = Retry(pool, settings)
    flow = fail(tflow(), pool, 401, body='{"error":"unauthorized"}')
    retry.responseheaders(flow)
    acc = flow.lease.account
    assert flow.attempt.retry  # 401 is in the default on_codes
    assert acc.runtime_expired and acc.status == "active"
    assert not pool.usable(acc.token)


def test_a_marker_on_a_500_is_not_an_expiry(settings, pool):
    retry = Retry(pool, settings)
    flow = fail(tflow(), pool, 500, body=EXPIRED_BODY)
    retry.responseheaders(flow)
    assert flow.lease.account.status == "active" and not flow.attempt.retry


def test_an_empty_answer_switches_whatever_on_codes_says(tmp_path, pool):
    retry = Retry(pool, make_settings(tmp_path, GROK_RETRY_ON_CODES="429"))
    flow = fail(tflow(), pool, 502, "upstream answer was empty", code=EMPTY_RESPONSE)
    retry.responseheaders(flow)
    acc = flow.lease.account
    assert flow.attempt.retry
    assert acc.last_fail_reason == "empty response" and acc.consecutive_failures == 1
    # it counts against the budget: the second empty answer ends the flow
    retry.responseheaders(fail(flow, pool, 502, "upstream answer was empty", code=EMPTY_RESPONSE))
    assert not flow.attempt.retry
    assert (flow.error.status, flow.error.code) == (502, "empty_response")


def test_random_strategy_cools_a_429_for_the_pool_interval_and_allows_five_retries(tmp_path, pool):
    settings = make_settings(tmp_path, GROK_ACCOUNT_REFRESH_ENABLED="false",
                             GROK_ACCOUNT_REFRESH_BASIC_INTERVAL_SEC="1000",
                             GROK_RETRY_MAX_RETRIES="1")
    retry = Retry(pool, settings)
    flow = tflow()
    for _ in range(RANDOM_MAX_RETRIES):
        retry.responseheaders(fail(flow, pool, 429))
        assert flow.attempt.retry
        acc = flow.lease.account
        assert acc.status == "active" and acc.mode_cooldown("fast")["confirmed"]
        assert abs(acc.mode_cooldown("fast")["until"] / 1000 - (time.time() + 1000)) < 30
    assert RANDOM_MAX_RETRIES == 5
    retry.responseheaders(fail(flow, pool, 429))
    assert not flow.attempt.retry and flow.error.status == 429


def continued_flow(pool: AccountPool, status: int) -> Flow:
    flow = fail(tflow(), pool, status)
    flow.continued = Continued(token=flow.lease.token, conversation_id="conv-1",
                               upstream_response_id="resp-1", prompt="[user]: next", old_files=0)
    flow.attempt.continued = True
    return flow


def test_a_failed_continued_try_is_retried_and_its_account_may_serve_again(tmp_path, pool):
    # 502 is not in on_codes and no budget is left: a continuation still gets one more try
    settings = make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0", GROK_RETRY_ON_CODES="429")
    flow = continued_flow(pool, 502)
    token = flow.lease.token
    Retry(pool, settings).responseheaders(flow)
    assert flow.attempt.retry and flow.continued.abandoned
    assert token not in flow.tried  # the conversation failed, not the account
    assert pool.select(("basic",), "fast", exclude=flow.tried, only=token) is not None


@pytest.mark.parametrize("status", [401, 403, 429])
def test_a_continued_try_failing_on_the_account_moves_to_another(tmp_path, pool, status):
    settings = make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0")
    flow = continued_flow(pool, status)
    token = flow.lease.token
    Retry(pool, settings).responseheaders(flow)
    assert flow.attempt.retry and flow.continued.abandoned
    assert token in flow.tried


def test_a_try_that_did_not_continue_gets_no_continuation_retry(tmp_path, pool):
    settings = make_settings(tmp_path, GROK_RETRY_MAX_RETRIES="0", GROK_RETRY_ON_CODES="429")
    flow = continued_flow(pool, 502)
    flow.attempt.continued = False  # an earlier try already sent the full history
    Retry(pool, settings).responseheaders(flow)
    assert not flow.attempt.retry and flow.lease.token in flow.tried


def test_backoff_grows_per_attempt_and_stays_under_backoff_max(tmp_path, pool):
    settings = make_settings(tmp_path, GROK_RETRY_BACKOFF_BASE_MS="100",
                             GROK_RETRY_BACKOFF_MAX_MS="250", GROK_RETRY_MAX_RETRIES="8")
    retry = Retry(pool, settings)
    delays = []
    flow = tflow()
    for _ in range(6):
        retry.responseheaders(fail(flow, pool, 503))
        assert flow.attempt.retry
        delays.append(flow.attempt.retry_delay)
    assert 0.05 <= delays[0] <= 0.1  # base, jittered down to half
    assert all(0.125 <= d <= 0.25 for d in delays[2:])  # capped at backoff_max_ms
    assert max(delays) <= 0.25


def test_no_backoff_when_base_is_zero(settings, pool):
    flow = fail(tflow(), pool, 429)
    Retry(pool, settings).responseheaders(flow)
    assert flow.attempt.retry and flow.attempt.retry_delay == 0


def test_a_try_that_did_not_fail_is_left_alone(settings, pool):
    flow = tflow()
    flow.lease = pool.select(("basic",), "fast")
    flow.attempt = Attempt(1, mode="fast", status=200)
    Retry(pool, settings).responseheaders(flow)
    assert not flow.attempt.retry and flow.error is None and flow.last_error is None
    assert flow.lease.account.status == "active"


def retry_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "addons.retry"]


def test_a_failover_writes_one_line_without_the_token(settings, pool, caplog):
    caplog.set_level(logging.DEBUG, logger="addons.retry")
    flow = fail(tflow(), pool, 429, "Too many requests")
    token = flow.lease.token
    Retry(pool, settings).responseheaders(flow)
    (record,) = retry_records(caplog)
    line = record.getMessage()
    assert record.levelno == logging.INFO and "failing over" in line
    assert token_label(token) in line and flow.id in line and "429" in line
    assert token not in line and token[4:-4] not in line


def test_a_final_no_retry_writes_one_warning_without_the_token(tmp_path, pool, caplog):
    caplog.set_level(logging.DEBUG, logger="addons.retry")
    flow = fail(tflow(), pool, 500, "boom")
    token = flow.lease.token
    Retry(pool, make_settings(tmp_path)).responseheaders(flow)
    (record,) = retry_records(caplog)
    line = record.getMessage()
    assert record.levelno == logging.WARNING and "no retry left" in line
    assert token_label(token) in line and token not in line and token[4:-4] not in line


# ---------------------------------------------------------------------- the 403s, told apart
ANTI_BOT_BODY = '{"error":{"message":"Request rejected by anti-bot rules.","code":7,"details":[]}}'
CLOUDFLARE_BODY = '<!doctype html><title>Just a moment...</title><div id="challenge-platform">'


@pytest.mark.parametrize(("status", "body", "reason", "last_error"), [
    (403, '{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}',
     "blocked-user", "403 unauthorized:blocked-user"),
    (403, '{"error":{"code":7,"message":"no [WKE=account:email-domain-rejected]"}}',
     "email-domain-rejected", "403 account:email-domain-rejected"),
    (401, '{"error":{"code":16,"message":"no [WKE=unauthenticated:bad-credentials]"}}',
     "bad-credentials", "401 unauthenticated:bad-credentials"),
], ids=["blocked-user", "email-domain-rejected", "bad-credentials"])
def test_an_account_code_expires_the_account_with_its_reason(settings, pool, status, body,
                                                             reason, last_error):
    flow = fail(tflow(), pool, status, "refused", body)
    Retry(pool, settings).responseheaders(flow)
    acc = flow.lease.account
    assert acc.status == "expired" and acc.state_reason == reason
    assert acc.ext["expired_reason"] == reason and acc.last_fail_reason == last_error
    assert flow.attempt.retry and flow.metadata.get("retry", 0) == 0  # free switch
    assert flow.lease.token in flow.tried and flow.pinned_token is None  # another account


@pytest.mark.parametrize("body", [ANTI_BOT_BODY, CLOUDFLARE_BODY], ids=["anti-bot", "challenge"])
def test_a_cured_edge_refusal_tries_the_same_account_again_for_free(settings, pool, body):
    flow = fail(tflow(), pool, 403, "refused", body)
    flow.attempt.remedy = "fresh x-statsig-id"
    Retry(pool, settings).responseheaders(flow)
    acc = flow.lease.account
    assert flow.attempt.retry and flow.attempt.retry_delay == 0 and flow.error is None
    assert flow.pinned_token == acc.token and acc.token not in flow.tried
    assert flow.metadata.get("retry", 0) == 0  # no budget spent
    assert acc.usage_fail_count == 0 and acc.health == 1.0 and acc.status == "active"
    assert flow.last_error.status == 403  # what ends the flow if the next try cannot run


@pytest.mark.parametrize(("body", "kind"), [(ANTI_BOT_BODY, "anti_bot"),
                                            (CLOUDFLARE_BODY, "challenge")])
def test_an_uncured_edge_refusal_scores_the_account_and_ends_as_a_403(settings, pool, body, kind):
    flow = fail(tflow(), pool, 403, "refused", body)
    Retry(pool, settings).responseheaders(flow)
    acc = flow.lease.account
    assert not flow.attempt.retry  # 403 is not in retry.on_codes: another account would too
    assert flow.error.status == 403 and f"upstream 403, {kind}" in flow.error.message
    assert acc.status == "active" and acc.usage_fail_count == 1


def test_a_content_policy_403_costs_the_account_nothing(settings, pool):
    flow = fail(tflow(), pool, 403, "rejected", '{"error":{"code":"content-moderated"}}')
    Retry(pool, settings).responseheaders(flow)
    assert not flow.attempt.retry and "upstream 403, forbidden" in flow.error.message
    assert flow.lease.account.usage_fail_count == 0
