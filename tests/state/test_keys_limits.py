"""The limits of a client key, judged in memory: every limit and its Retry-After, nothing
charged for a refusal, refunds and released slots when a request ends."""
from __future__ import annotations

from state.keys import KeyPolicy, KeyRecord
from state.keys_limits import Admission, KeyCounters, Refusal, day_bucket, minute_bucket

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a minute


def key(**policy) -> KeyRecord:
    return KeyRecord(id="key_1", name="k", key_hash="h", display_key="d",
                     policy=KeyPolicy(**policy))


def test_rpm_is_a_sliding_minute_with_a_retry_after_that_lets_the_next_one_in() -> None:
    counters, rec = KeyCounters(), key(rpm=2)
    assert isinstance(counters.admit(rec, {}, T0 + 50), Admission)
    assert isinstance(counters.admit(rec, {}, T0 + 55), Admission)
    refused = counters.admit(rec, {}, T0 + 56)
    assert isinstance(refused, Refusal) and refused.code == "rpm_exceeded"
    # the two of the previous minute still weigh at the start of the next one
    assert isinstance(counters.admit(rec, {}, T0 + 61), Refusal)
    later = T0 + 56 + refused.retry_after
    assert isinstance(counters.admit(rec, {}, later - 3), Refusal)  # not earlier
    assert isinstance(counters.admit(rec, {}, later + 0.01), Admission)


def test_daily_quota_judges_every_bucket_before_charging_any() -> None:
    counters, rec = KeyCounters(), key(limits={"chat": 5, "heavy": 1})
    assert isinstance(counters.admit(rec, {"chat": 1, "heavy": 1}, T0), Admission)
    refused = counters.admit(rec, {"chat": 1, "heavy": 1}, T0)
    assert isinstance(refused, Refusal) and refused.code == "daily_quota_exceeded"
    assert "heavy" in refused.message and 0 < refused.retry_after <= 86_400
    assert counters.day_counts("key_1", T0)["chat"] == 1  # the refused one charged nothing


def test_tokens_are_counted_when_the_request_ends() -> None:
    counters, rec = KeyCounters(), key(limits={"tokens": 100})
    admitted = counters.admit(rec, {"chat": 1}, T0)
    assert isinstance(admitted, Admission)
    assert isinstance(counters.admit(rec, {"chat": 1}, T0), Admission)  # none counted yet
    counters.settle(admitted, 150, failed=False)
    refused = counters.admit(rec, {"chat": 1}, T0)
    assert isinstance(refused, Refusal) and refused.code == "token_quota_exceeded"


def test_concurrency_slot_is_freed_once_and_a_failure_refunds_the_day() -> None:
    counters, rec = KeyCounters(), key(max_concurrency=1, limits={"chat": 1})
    first = counters.admit(rec, {"chat": 1}, T0)
    assert isinstance(first, Admission)
    refused = counters.admit(rec, {"chat": 1}, T0)
    assert isinstance(refused, Refusal) and refused.code == "concurrency_exceeded"
    counters.settle(first, 0, failed=True)
    counters.settle(first, 0, failed=True)  # twice is harmless
    assert counters.concurrency("key_1") == 0
    assert counters.day_counts("key_1", T0)["chat"] == 0
    assert isinstance(counters.admit(rec, {"chat": 1}, T0), Admission)


def test_shared_totals_replace_what_was_sent_and_a_failed_send_is_kept() -> None:
    counters, rec = KeyCounters(), key(rpm=10)
    counters.admit(rec, {"chat": 1}, T0)
    sent = counters.drain()
    assert sent[("key_1", day_bucket(T0))][1] == 1
    counters.restore(sent)  # the send failed: nothing lost
    assert counters.drain() == sent
    minute = ("key_1", minute_bucket(int(T0 // 60)))
    counters.take_totals({minute: [7, 0, 0, 0, 0, 0]}, [minute])  # six more from elsewhere
    assert counters.rpm_estimate("key_1", T0)[1] == 7
