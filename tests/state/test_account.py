from __future__ import annotations

import pytest

from state.account import (
    SOURCE_DEFAULT,
    SOURCE_ESTIMATED,
    SOURCE_REAL,
    TIER_MODES,
    Account,
    QuotaWindow,
    default_quota,
    normalize_token,
    to_ms,
)


@pytest.mark.parametrize("raw,expected", [
    ("abc.def", "abc.def"),
    ("  sso=abc.def \n", "abc.def"),
    ("SSO=abc", "abc"),
    ("\ufeffabc\u200bdef\u00a0", "abcdef"),
    ("ab\u2013cd\u2014ef\u2212gh", "ab-cd-ef-gh"),
    ("ab c\td", "abcd"),
    ("abcé", "abc"),
])
def test_normalize_token(raw: str, expected: str) -> None:
    assert normalize_token(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "sso=", "éèà", "\u200b\ufeff"])
def test_normalize_token_rejects_empty(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_token(raw)


def test_tier_defaults() -> None:
    assert TIER_MODES["basic"] == {"fast"}
    assert TIER_MODES["super"] == {"auto", "fast", "expert", "grok-420-computer-use-sa"}
    assert TIER_MODES["heavy"] == {"auto", "fast", "expert", "heavy", "grok-420-computer-use-sa"}
    basic = default_quota("basic")["fast"]
    assert (basic.remaining, basic.total, basic.window_seconds) == (30, 30, 86400)
    heavy = default_quota("heavy")
    assert heavy["heavy"].total == 20 and heavy["fast"].total == 400
    assert default_quota("super")["auto"].window_seconds == 7200


def test_window_refill() -> None:
    win = QuotaWindow(0, 50, 7200, reset_at=1000, source=SOURCE_REAL)
    assert win.refill_if_due(999) is False and win.remaining == 0
    assert win.refill_if_due(1000) is True
    assert (win.remaining, win.reset_at, win.source) == (50, None, SOURCE_ESTIMATED)
    assert QuotaWindow.from_dict(win.to_dict()) == win


def test_account_window_created_lazily_for_supported_modes() -> None:
    acc = Account("t", pool="super")
    assert acc.window("auto").total == 50
    assert acc.window("heavy") is None
    acc.set_pool("basic")
    assert set(acc.quota) == {"fast"}


def test_success_decrements_and_starts_window() -> None:
    acc = Account.new("t", "basic", now=0)
    acc.health = 0.5
    acc.record_success("fast", 1_000)
    win = acc.quota["fast"]
    assert (win.remaining, win.source, win.reset_at) == (29, SOURCE_ESTIMATED, 1_000 + 86_400_000)
    assert acc.usage_use_count == 1 and acc.health == pytest.approx(0.62)


def test_basic_fast_quota_is_clamped() -> None:
    acc = Account.new("t", "basic", now=0)
    acc.apply_quota("fast", 80, 80, 72000, 5)
    win = acc.quota["fast"]
    assert (win.remaining, win.total, win.window_seconds, win.source) == (30, 30, 86400, SOURCE_REAL)
    assert win.reset_at == 5 + 86_400_000 and acc.last_sync_at == 5 and acc.usage_sync_count == 1


def test_to_ms() -> None:
    assert to_ms(1_700_000_000.5) == 1_700_000_000_500
    assert to_ms(1_700_000_000_500) == 1_700_000_000_500
    assert SOURCE_DEFAULT == 0
