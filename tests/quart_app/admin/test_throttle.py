"""Wrong admin secrets, per client address: free tries, doubling waits, then a lockout."""
from __future__ import annotations

import logging

import pytest

from quart_app.admin.throttle import AdminThrottle, bucket
from state.options import FixedSettings
from tests.quart_app.admin.conftest import KEY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**values) -> tuple[AdminThrottle, Clock]:
    clock = Clock()
    settings = FixedSettings({f"admin.throttle.{k}": v for k, v in values.items()})
    return AdminThrottle(settings, clock=clock), clock


def test_free_failures_then_doubling_waits_then_a_lockout(caplog) -> None:
    throttle, clock = make(free_failures=3, lockout_failures=10, lockout_sec=900)
    caplog.set_level(logging.WARNING, "quart_app.admin.throttle")
    waits = []
    for _ in range(10):
        assert throttle.wait("198.51.100.7") == 0
        waits.append(throttle.failed("198.51.100.7"))
        clock.now += waits[-1]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 900]
    assert "198.51.100.7 locked out for 900 s after 10 wrong admin secrets" in caplog.text
    # another address is not affected
    assert throttle.wait("198.51.100.8") == 0
    # locked out: refused until the lockout ends
    clock.now -= 1
    assert throttle.wait("198.51.100.7") == 1
    clock.now += 1
    # after the lockout, one more wrong secret locks it out again at once
    assert throttle.wait("198.51.100.7") == 0
    assert throttle.failed("198.51.100.7") == 900


def test_a_right_secret_or_a_quiet_period_starts_afresh() -> None:
    throttle, clock = make(free_failures=0, lockout_failures=5, lockout_sec=60)
    assert throttle.failed("a") == 1 and throttle.failed("a") == 2
    throttle.succeeded("a")
    assert throttle.wait("a") == 0 and throttle.failed("a") == 1
    clock.now += 1 + 60  # the wait ended a lockout period ago
    assert throttle.wait("a") == 0 and len(throttle) == 0
    assert throttle.failed("a") == 1


def test_memory_is_bounded() -> None:
    clock = Clock()
    throttle = AdminThrottle(FixedSettings({"admin.throttle.free_failures": 0}), clock=clock,
                             max_addresses=1000)
    for i in range(5000):
        throttle.failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(throttle) == 1000
    # the most recently active are kept: the last address still waits, the first is forgotten
    assert throttle.wait("10.0.19.135") == 1 and throttle.wait("10.0.0.1") == 0


def test_ipv6_clients_count_per_64() -> None:
    assert bucket("2001:db8:1:2:aaaa::1") == bucket("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert bucket("::ffff:192.0.2.1") == "192.0.2.1" and bucket("unknown") == "unknown"


async def test_the_api_throttles_per_address_and_spares_others(admin) -> None:
    attacker = {"scope_base": {"client": ("198.51.100.7", 5000)}}
    operator = {"scope_base": {"client": ("192.0.2.1", 5000)}}
    wrong = {"Authorization": "Bearer wrong-guess"}
    codes = []
    for _ in range(6):
        status, body = await admin.call("GET", "/tokens", auth=False, headers=wrong, **attacker)
        codes.append(body["error"]["code"])
    # three free guesses, the fourth makes it wait a second: the next ones are refused unread
    assert codes == ["invalid_api_key"] * 4 + ["admin_throttled"] * 2
    resp = await admin.client.get("/admin/api/verify", headers={"Authorization": f"Bearer {KEY}"},
                                  scope_base=attacker["scope_base"])
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    body = await resp.get_json()
    assert body["error"]["type"] == "rate_limit_error"
    assert "try again in 1 s" in body["error"]["message"]
    # the right secret from another address is answered at once
    assert (await admin.call("GET", "/verify", **operator))[0] == 200
    # a missing secret is not a guess
    for _ in range(5):
        assert (await admin.call("GET", "/verify", auth=False, **operator))[0] == 401
    assert (await admin.call("GET", "/verify", **operator))[0] == 200


def test_settings_refuse_counts_that_make_no_sense(tmp_path) -> None:
    from state.settings import Settings, SettingsError

    settings = Settings(tmp_path / "config.toml", environ={})
    for key, value, words in [("admin.throttle.free_failures", "-1", "must be 0 or more"),
                              ("admin.throttle.lockout_failures", "0", "must be at least 1"),
                              ("admin.throttle.lockout_sec", "0", "must be at least 1")]:
        with pytest.raises(SettingsError) as info:
            settings.set(key, value)
        assert str(info.value) == f"{key}: {words}, got {int(value)}"
