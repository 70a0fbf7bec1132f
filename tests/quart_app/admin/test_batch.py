"""Batch routes: sync and async, cancel, task lookup, masking, NSFW wiring."""
from __future__ import annotations

import asyncio

import pytest

from quart_app.admin import batch

from tests.quart_app.admin.conftest import TOK_A, TOK_B, TOK_C


async def test_batch_refresh_sync_masks_tokens(admin):
    admin.pool.add(TOK_A, "basic")
    admin.refresher.failing = {TOK_B}
    status, body = await admin.call("POST", "/batch/refresh", json={"tokens": [TOK_A, TOK_B]})
    assert status == 200 and body["summary"] == {"total": 2, "ok": 1, "fail": 1}
    assert TOK_A not in str(body) and TOK_B not in str(body)
    [ok_item, bad_item] = body["results"].values()
    assert ok_item["refreshed"] == 1 and "probe failed" in bad_item["error"]


async def test_batch_refresh_async_then_cancel(admin):
    admin.refresher.delay = 0.5
    tokens = [TOK_A, TOK_B, TOK_C]
    status, body = await admin.call("POST", "/batch/refresh?async=true&concurrency=1",
                                    json={"tokens": tokens})
    assert status == 200 and body["total"] == 3 and len(body["task_id"]) == 32
    task_id = body["task_id"]
    status, snap = await admin.call("GET", f"/batch/{task_id}")
    assert snap["status"] == "running" and snap["type"] == "snapshot"
    status, body = await admin.call("POST", f"/batch/{task_id}/cancel")
    assert body["status"] == "success" and body["task_status"] == "cancelled"
    await asyncio.sleep(0.05)
    status, snap = await admin.call("GET", f"/batch/{task_id}")
    assert snap["status"] == "cancelled" and snap["result"]["summary"]["total"] == 3
    assert admin.refresher.calls == [TOK_A]  # stopped: the others never ran


async def test_unknown_tasks_are_404(admin):
    for method, path in (("GET", "/batch/nope"), ("POST", "/batch/nope/cancel"),
                         ("GET", "/batch/nope/stream")):
        status, body = await admin.call(method, path)
        assert status == 404 and body["error"]["code"] == "task_not_found"


@pytest.mark.parametrize("query, payload, param", [
    ("", {"tokens": []}, "tokens"),
    ("", {}, "tokens"),
    ("", {"tokens": ["bad token"]}, "tokens[0]"),
    ("?async=perhaps", {"tokens": [TOK_A]}, "async"),
    ("?concurrency=0", {"tokens": [TOK_A]}, "concurrency"),
    ("?concurrency=1000", {"tokens": [TOK_A]}, "concurrency"),
])
async def test_bad_batch_requests_are_400(admin, query, payload, param):
    status, body = await admin.call("POST", "/batch/refresh" + query, json=payload)
    assert status == 400 and body["error"]["param"] == param
    assert admin.refresher.calls == []


async def test_batch_nsfw_calls_the_sequence_and_tags(admin, monkeypatch):
    import addons.services.nsfw

    seen = []

    async def enable(services, token):
        seen.append(token)
        return {"ok": token != TOK_B, "token": token}

    monkeypatch.setattr(addons.services.nsfw, "nsfw_enable", enable)
    admin.pool.add(TOK_A, "super")
    admin.pool.add(TOK_B, "super")
    admin.pool.add(TOK_C, "super")
    admin.pool.disable(TOK_C)
    status, body = await admin.call("POST", "/batch/nsfw", json={"tokens": []})
    assert status == 200 and sorted(seen) == sorted([TOK_A, TOK_B])  # all live accounts
    assert body["summary"] == {"total": 2, "ok": 1, "fail": 1}
    assert TOK_A not in str(body) and TOK_B not in str(body)
    assert admin.pool.get(TOK_A).tags == ["nsfw"] and admin.pool.get(TOK_B).tags == []
    await admin.stored(TOK_A, check=lambda a: a.tags == ["nsfw"])


async def test_batch_nsfw_is_501_while_the_sequence_is_missing(admin, monkeypatch):
    monkeypatch.setattr(batch, "NSFW_MODULE", "addons.not_built_yet")
    admin.pool.add(TOK_A, "super")
    status, body = await admin.call("POST", "/batch/nsfw", json={"tokens": [TOK_A]})
    assert status == 501 and body["error"]["code"] == "not_implemented"
    assert "addons.not_built_yet" in body["error"]["message"]


@pytest.mark.parametrize("setting, expected", [(1, 1), (3, 3)])
async def test_batch_nsfw_runs_batch_nsfw_concurrency_accounts_at_a_time(
        admin, monkeypatch, setting, expected):
    import addons.services.nsfw

    running = peak = 0

    async def enable(services, token):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return {"ok": True}

    monkeypatch.setattr(addons.services.nsfw, "nsfw_enable", enable)
    admin.services.settings.set("batch.nsfw_concurrency", setting)
    tokens = [f"{TOK_A}{i}" for i in range(6)]
    for token in tokens:
        admin.pool.add(token, "super")
    status, body = await admin.call("POST", "/batch/nsfw", json={"tokens": tokens})
    assert status == 200 and body["summary"]["ok"] == 6
    assert peak == expected
