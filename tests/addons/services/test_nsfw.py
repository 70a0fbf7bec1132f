"""The NSFW sequence against a fake transport: order, shapes, outcomes, pool effects."""
from __future__ import annotations

import datetime as dt
import random
import re
from types import SimpleNamespace

import pytest

from addons.upstream.mock import MockResponse, MockTransport
from addons.upstream.wire import UpstreamRequest
from addons.services.nsfw import nsfw_disable, nsfw_enable, nsfw_many, random_birth_date
from addons.upstream.config import UpstreamConfig
from state.account import token_label
from state.pool import AccountPool

TOKEN = "eyJhbGciOiJIUzI1NiJ9.nsfw.sig"
OK = bytes.fromhex("0000000000800000000f") + b"grpc-status:0\r\n"
CFG = UpstreamConfig(base_url="https://grok.test", accounts_url="https://acc.test")


class Transport(MockTransport):
    """Answers by URL suffix; `replies[suffix]` is a list consumed in order (last one sticks)."""

    def __init__(self, **replies: list[tuple[int, bytes]]) -> None:
        super().__init__(self.reply)
        self.cfg = CFG
        self.replies = {"SetTosAcceptedVersion": [(200, OK)], "set-birth-date": [(200, b"{}")],
                        "UpdateUserFeatureControls": [(200, OK)], **replies}

    def reply(self, request: UpstreamRequest) -> MockResponse:
        queue = self.replies[request.url.rsplit("/", 1)[-1]]
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return MockResponse(status, body=body)


def services(transport: Transport, *tags: str) -> SimpleNamespace:
    pool = AccountPool(None)
    pool.add(TOKEN, "super", tags=tags)
    return SimpleNamespace(pool=pool, transport=transport, settings=None)


async def test_enable_runs_the_three_steps_in_order_and_tags() -> None:
    tr = Transport()
    svc = services(tr, "keep")
    result = await nsfw_enable(svc, TOKEN)
    assert result == {"token": token_label(TOKEN), "action": "enable", "ok": True,
                      "steps": {"tos": "accepted", "birth_date": "set", "nsfw": "enabled"}}
    assert svc.pool.get(TOKEN).tags == ["keep", "nsfw"]
    urls = [r.url for r in tr.requests]
    assert urls == ["https://acc.test/auth_mgmt.AuthManagement/SetTosAcceptedVersion",
                    "https://grok.test/rest/auth/set-birth-date",
                    "https://grok.test/auth_mgmt.AuthManagement/UpdateUserFeatureControls"]
    tos, birth, nsfw = (r for r in tr.requests)
    assert tos.body == bytes.fromhex("00000000021001")
    assert (tos.headers["Origin"], tos.headers["Referer"]) == (
        "https://accounts.x.ai", "https://accounts.x.ai/accept-tos")
    assert tos.headers["Cookie"] == f"sso={TOKEN}; sso-rw={TOKEN}"
    assert (birth.headers["Origin"], birth.headers["Referer"]) == (
        "https://grok.com", "https://grok.com/?_s=data")
    assert birth.headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", birth.json["birthDate"])
    assert list(birth.json) == ["birthDate"]
    assert nsfw.body[5:9] == bytes.fromhex("0a021001") and len(nsfw.body) == 37
    assert nsfw.headers["Referer"] == "https://grok.com/?_s=data"
    assert nsfw.headers["x-grpc-web"] == "1"
    assert all(timeout == 60.0 for timeout in tr.timeouts)


async def test_birth_date_limit_means_already_set() -> None:
    limit = b'{"error":{"code":8,"message":"x [WKE=account:birth-date-change-limit-reached]"}}'
    tr = Transport(**{"set-birth-date": [(429, limit)]})
    result = await nsfw_enable(services(tr), TOKEN)
    assert result["ok"] and result["steps"]["birth_date"] == "already_set"
    plain_429 = await nsfw_enable(services(Transport(**{"set-birth-date": [(429, b"{}")]})), TOKEN)
    assert not plain_429["ok"] and plain_429["failed_step"] == "birth_date"
    assert plain_429["status"] == 429


@pytest.mark.parametrize("where", ["SetTosAcceptedVersion", "set-birth-date",
                                   "UpdateUserFeatureControls"])
async def test_a_marker_anywhere_expires_the_account(where: str) -> None:
    blocked = b'{"error":{"code":7,"message":"User is blocked [WKE=unauthorized:blocked-user]"}}'
    tr = Transport(**{where: [(403, blocked)]})
    svc = services(tr)
    result = await nsfw_enable(svc, TOKEN)
    assert not result["ok"] and result["expired"] == "blocked-user" and result["status"] == 403
    acc = svc.pool.get(TOKEN)
    assert acc.status == "expired" and "nsfw" not in acc.tags
    assert TOKEN not in repr(result)


async def test_grpc_status_with_marker_expires_and_other_failures_do_not() -> None:
    text = b"grpc-status:16\r\ngrpc-message:%5BWKE%3Dunauthorized%3Ainvalid-credentials%5D\r\n"
    trailer = b"\x80" + len(text).to_bytes(4, "big") + text
    svc = services(Transport(UpdateUserFeatureControls=[(200, trailer)]))
    result = await nsfw_enable(svc, TOKEN)
    assert result["expired"] == "invalid-credentials" and result["status"] == 401
    svc = services(Transport(SetTosAcceptedVersion=[(503, b"busy")]))
    result = await nsfw_enable(svc, TOKEN)
    assert result["failed_step"] == "tos" and result["status"] == 503
    assert "expired" not in result and svc.pool.get(TOKEN).status == "active"
    assert result["steps"] == {}


async def test_disable_only_turns_the_control_off() -> None:
    tr = Transport()
    svc = services(tr, "nsfw", "x")
    result = await nsfw_disable(svc, TOKEN)
    assert result["ok"] and result["steps"] == {"nsfw": "disabled"}
    assert [r.url.rsplit("/", 1)[-1] for r in tr.requests] == ["UpdateUserFeatureControls"]
    assert tr.requests[0].body[5:9] == bytes.fromhex("0a021000")
    assert svc.pool.get(TOKEN).tags == ["x"]


async def test_unknown_or_deleted_account_makes_no_call() -> None:
    tr = Transport()
    svc = services(tr)
    assert (await nsfw_enable(svc, "someone-else-entirely"))["error"] == "unknown account"
    svc.pool.delete(TOKEN)
    assert (await nsfw_enable(svc, TOKEN))["error"] == "account deleted"
    assert tr.requests == []


async def test_many_keeps_order_and_reports_progress() -> None:
    tr = Transport()
    svc = services(tr)
    seen: list[tuple[int, int]] = []
    results = await nsfw_many(svc, [TOKEN, "unknown-token-123"], concurrency=1,
                              progress=lambda d, t, r: seen.append((d, t)))
    assert [r["ok"] for r in results] == [True, False] and seen == [(1, 2), (2, 2)]


def test_birth_dates_are_adults_of_20_to_48() -> None:
    rng = random.Random(7)
    for today in (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                  dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc),
                  dt.datetime(2024, 2, 29, tzinfo=dt.timezone.utc)):
        for _ in range(400):
            value = random_birth_date(today, rng)
            born = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").date()
            d = today.date()
            age = d.year - born.year - ((d.month, d.day) < (born.month, born.day))
            assert 20 <= age <= 48, value
            assert born.day <= 28
