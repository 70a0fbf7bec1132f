"""The three-way merge of account records (several processes, one database)."""
from __future__ import annotations

from state.account import Account
from state.merge import account_record, apply_record, merge_records

T0 = 1_700_000_000_000


def _acc(pool: str = "super") -> Account:
    acc = Account.new("tok", pool, now=T0)
    acc.synced = account_record(acc)
    return acc


def test_untouched_sides_and_no_base() -> None:
    acc = _acc()
    base = acc.synced
    theirs = dict(base, status="disabled", updated_at=T0 + 5)
    assert merge_records(base, account_record(acc), theirs) == theirs
    acc.note = "mine"
    mine = account_record(acc)
    assert merge_records(base, mine, base) == mine
    assert merge_records(None, mine, theirs) == mine  # created here: ours outright


def test_counters_add_and_quota_spends_subtract() -> None:
    ours, peer = _acc(), _acc()
    base = ours.synced
    for _ in range(3):
        ours.record_success("auto", T0 + 10)
    for _ in range(5):
        peer.record_success("auto", T0 + 20)
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 30)
    assert out["usage_use_count"] == 8
    assert out["quota"]["auto"]["remaining"] == 50 - 8
    assert out["last_use_at"] is None or out["last_use_at"] >= T0


def test_peer_disable_survives_our_traffic() -> None:
    ours, peer = _acc(), _acc()
    base = ours.synced
    ours.record_success("fast", T0 + 50)  # later than the disable, but no status change
    peer.status, peer.updated_at = "disabled", T0 + 10
    peer.ext["disabled_at"] = T0 + 10
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 60)
    assert out["status"] == "disabled" and out["usage_use_count"] == 1


def test_severe_status_beats_traffic_cooldown_unless_restored_later() -> None:
    ours, peer = _acc(), _acc()
    base = ours.synced
    ours.cool_down(T0 + 999_000, "rate_limited")
    ours.touch(T0 + 100)  # our cooldown is newer ...
    peer.status = "expired"
    peer.ext["expired_at"] = T0 + 10
    peer.touch(T0 + 10)
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 200)
    assert out["status"] == "expired"  # ... but an expiry is not undone by traffic
    assert "cooldown_until" not in out["ext"] and out["ext"]["expired_at"] == T0 + 10

    ours2 = _acc()
    ours2.restore(T0 + 500)  # an operator enable after the expiry wins
    out = merge_records(base, account_record(ours2), account_record(peer), T0 + 600)
    assert out["status"] == "active" and "expired_at" not in out["ext"]


def test_delete_against_restore_takes_the_later() -> None:
    ours, peer = _acc(), _acc()
    ours.deleted_at = T0 + 10
    ours.synced = account_record(ours)
    base = ours.synced
    peer.deleted_at = T0 + 10
    peer.restore(T0 + 20)
    ours.note = "edited"
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 30)
    assert out["deleted_at"] is None and out["note"] == "edited"
    mine = account_record(ours)
    mine["deleted_at"] = T0 + 40
    assert merge_records(base, mine, account_record(peer), T0 + 50)["deleted_at"] == T0 + 40


def test_newer_probe_wins_and_refilled_window_kept() -> None:
    ours, peer = _acc(), _acc()
    base = ours.synced
    ours.record_success("auto", T0 + 10)
    peer.apply_quota("auto", 20, 50, 7200, T0 + 20)
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 30)
    assert out["quota"]["auto"]["remaining"] == 19  # the probe less our one spend
    ours.apply_quota("auto", 33, 50, 7200, T0 + 40)
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 50)
    assert out["quota"]["auto"]["remaining"] == 33


def test_apply_record_drops_modes_of_another_tier() -> None:
    acc = _acc("super")
    rec = account_record(acc)
    rec["pool"] = "basic"
    apply_record(acc, rec)
    assert acc.pool == "basic" and set(acc.quota) == {"fast"}


def test_mode_cooldowns_set_by_two_workers_both_survive() -> None:
    ours, peer = _acc(), _acc()
    base = ours.synced
    ours.set_mode_cooldown("auto", T0 + 60_000, 1, False)
    peer.set_mode_cooldown("fast", T0 + 90_000, 2, True)
    out = merge_records(base, account_record(ours), account_record(peer), T0 + 30)
    assert out["ext"]["mode_cooldowns"] == {
        "fast": {"until": T0 + 90_000, "strikes": 2, "confirmed": True},
        "auto": {"until": T0 + 60_000, "strikes": 1, "confirmed": False}}
    # a success here clears auto; the peer's fast cooldown stays
    merged = _acc()
    apply_record(merged, out)
    merged.synced = account_record(merged)
    base = merged.synced
    mine = account_record(merged)
    mine["ext"] = {"mode_cooldowns": {"fast": base["ext"]["mode_cooldowns"]["fast"]}}
    out = merge_records(base, mine, base, T0 + 40)
    assert list(out["ext"]["mode_cooldowns"]) == ["fast"]
    mine["ext"] = {}
    out = merge_records(base, mine, dict(base, note="peer"), T0 + 40)
    assert "mode_cooldowns" not in out["ext"]
