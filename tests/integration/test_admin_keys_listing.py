"""The keys page's listing over real sockets: stat-card counts over every key, and the search,
status filter, order and page the server applies."""
from __future__ import annotations

from tests.integration.test_keys import ADMIN, admin, chat, new_key, start


async def test_search_filter_order_page_and_counts(stack):
    await start(stack)
    alpha = await new_key(stack, name="Alpha team", limits={"chat_per_day": 1})
    beta = await new_key(stack, name="beta-bot")
    gamma = await new_key(stack, name="Gamma", is_active=False)
    await new_key(stack, name="old", expires_at=1)
    assert await chat(stack, alpha["key"])  # alpha's one chat of the day is used
    status, body = await admin(stack, "GET", "/keys")
    assert status == 200 and body["total"] == 4 and len(body["data"]) == 4
    assert body["counts"] == {"total": 4, "active": 2, "disabled": 1, "expired": 1,
                              "exhausted": 1, "used_today": 1, "tokens_today":
                              body["counts"]["tokens_today"]}
    assert [k["name"] for k in body["data"]][:1] == ["old"]  # newest first

    async def names(**query) -> list[str]:
        status, body = await admin(stack, "GET", "/keys", params=query)
        assert status == 200, body
        assert body["counts"]["total"] == 4  # the cards never depend on the filter
        return [k["name"] for k in body["data"]]

    assert await names(q="TEAM") == ["Alpha team"]
    assert await names(q=beta["display_key"][-4:]) == ["beta-bot"]
    assert await names(q=gamma["id"]) == ["Gamma"]
    assert await names(status="disabled") == ["Gamma"]
    assert await names(status="expired") == ["old"]
    assert await names(status="exhausted") == ["Alpha team"]
    assert await names(sort="name") == ["Alpha team", "beta-bot", "Gamma", "old"]
    assert (await names(sort="used_today", order="desc"))[0] == "Alpha team"
    status, body = await admin(stack, "GET", "/keys", params={
        "sort": "name", "page": "2", "page_size": "3"})
    assert (body["total"], body["page"], body["page_size"]) == (4, 2, 3)
    assert [k["name"] for k in body["data"]] == ["old"]
    for bad, param in (({"status": "sleeping"}, "status"), ({"page": "0"}, "page"),
                       ({"page_size": "100000"}, "page_size"), ({"sort": "key"}, "sort")):
        status, body = await admin(stack, "GET", "/keys", params=bad)
        assert status == 400 and body["error"]["param"] == param, body
    assert ADMIN not in str(body)
