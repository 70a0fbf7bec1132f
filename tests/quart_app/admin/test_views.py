"""Derived account states, masking and the listing filters, on plain accounts."""
from __future__ import annotations

from quart_app.admin.views import (
    account_view, counts, derived_state, mask_token, matches, quota_known, scrub,
)
from state.account import SOURCE_ESTIMATED, SOURCE_REAL, Account, QuotaWindow

NOW = 1_767_225_600_000
LONG = "eyJhbGciOiJIUzI1NiJ9.payload.signature-123456"


def acc(token: str = LONG, pool: str = "basic", **kw) -> Account:
    account = Account.new(token, pool, now=NOW - 1000)
    for name, value in kw.items():
        setattr(account, name, value)
    return account


def test_mask_shows_first_and_last_eight_and_never_a_short_token_whole():
    assert mask_token(LONG) == "eyJhbGci...e-123456"
    for token in ("abcdefghijkl", "tok-a", "x"):
        assert mask_token(token) != token and "..." in mask_token(token)


def test_scrub_masks_the_token_inside_nested_details():
    detail = {"error": f"bad {LONG}", "list": [LONG], LONG: 1, "n": 3}
    clean = scrub(detail, LONG)
    assert LONG not in repr(clean) and clean["n"] == 3


def test_invalid_is_expired_or_disabled_and_deleted_is_its_own():
    assert derived_state(acc(status="expired"), NOW) == "invalid"
    assert derived_state(acc(status="disabled"), NOW) == "invalid"
    assert derived_state(acc(deleted_at=NOW), NOW) == "deleted"


def test_cooling_is_exhausted():
    assert derived_state(acc(status="cooling", cooldown_until=NOW + 5000), NOW) == "exhausted"


def test_unknown_quota_is_never_exhausted():
    a = acc()
    a.quota["fast"] = QuotaWindow(0, 30, 86400)  # tier default (source 0): not known
    assert not quota_known(a) and derived_state(a, NOW) == "active"


def test_every_window_known_and_empty_is_exhausted():
    a = acc()
    a.quota["fast"] = QuotaWindow(0, 30, 86400, reset_at=NOW + 60_000, source=SOURCE_REAL)
    assert quota_known(a) and derived_state(a, NOW) == "exhausted"
    a.quota["fast"].reset_at = NOW - 1  # the window refills on next use
    assert derived_state(a, NOW) == "active"


def test_one_unknown_window_keeps_a_super_account_active():
    a = acc(pool="super")
    for mode, win in a.quota.items():
        if mode != "fast":
            win.remaining, win.source = 0, SOURCE_ESTIMATED
    assert derived_state(a, NOW) == "active"
    a.quota["fast"].remaining, a.quota["fast"].source = 0, SOURCE_REAL
    assert derived_state(a, NOW) == "exhausted"


def test_view_carries_the_spec_fields():
    view = account_view(acc(tags=["nsfw"], usage_use_count=4), NOW)
    assert view["token"] == LONG and view["use_count"] == 4 and view["nsfw"] is True
    assert view["quota"]["fast"]["known"] is False and view["state"] == "active"


def test_filters_and_counts():
    rows = [acc("a" * 30), acc("b" * 30, pool="super", tags=["nsfw"]),
            acc("c" * 30, status="disabled"), acc("d" * 30, deleted_at=NOW)]

    def pick(**kw):
        base = dict(pool=None, status=None, tag=None, nsfw=None, search=None, now=NOW)
        return [a.token[0] for a in rows if matches(a, **{**base, **kw})]

    assert pick() == ["a", "b", "c"]
    assert pick(status="invalid") == ["c"] and pick(status="deleted") == ["d"]
    assert pick(status="active") == ["a", "b"] and pick(pool="super") == ["b"]
    assert pick(tag="nsfw") == ["b"] and pick(nsfw=False) == ["a", "c"]
    assert pick(search="CCC") == ["c"]
    c = counts(rows, NOW)
    assert c["total"] == 3 and c["invalid"] == 1 and c["deleted"] == 1 and c["nsfw"] == 1
    assert c["pools"] == {"basic": 2, "super": 1, "heavy": 0}
