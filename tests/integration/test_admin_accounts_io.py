"""The accounts page's admin API over real sockets: import with a preview, export of the
filtered rows, the purge preview, the stat-card counts and the listing's sort."""
from __future__ import annotations

import json

from tests.integration.test_admin_api import AUTH, KEY, TOKENS, A, B, C, D, call, start

NEW = [f"eyJhbGciOiJIUzI1NiJ9.eyJpbXBvcnQi{i}.sig-imp-{i}-0123456789abcdef" for i in range(3)]


async def test_import_previews_then_adds_only_what_it_said(stack):
    async with await start(stack, "super", "super") as http:
        assert (await call(http, "POST", "/tokens/add",
                           json={"tokens": [A, B], "pool": "super"}))[0] == 200
        text = "\n".join(["# a comment", A, NEW[0], NEW[1], NEW[0], "two words", "",
                          f"sso={NEW[2]}", "tøken"])
        status, preview = await call(http, "POST", "/tokens/import",
                                     json={"content": text, "pool": "basic", "dry_run": True})
        assert status == 200 and preview["dry_run"] is True
        assert preview["counts"] == {"add": 3, "existing": 1, "duplicates": 1, "rejected": 2}
        assert [r["line"] for r in preview["rejected"]] == [6, 9]
        assert all(r["pool"] == "basic" and not r["restore"] for r in preview["add"])
        assert not any(t in json.dumps(preview) for t in [*NEW, A])  # masked
        status, body = await call(http, "GET", "/tokens")
        assert body["total"] == 2  # nothing added by the preview
        status, done = await call(http, "POST", "/tokens/import",
                                  json={"content": text, "pool": "basic"})
        assert status == 200 and done["count"] == 3 and done["counts"] == preview["counts"]
        status, body = await call(http, "GET", "/tokens?pool=basic")
        assert sorted(r["token"] for r in body["tokens"]) == sorted(NEW)


async def test_a_json_import_keeps_pools_and_tags_and_a_useless_file_is_refused(stack):
    async with await start(stack, "super") as http:
        content = json.dumps({"heavy": [{"token": NEW[0], "tags": ["vip"]}], "ssoSuper": [NEW[1]]})
        status, done = await call(http, "POST", "/tokens/import",
                                  json={"content": content, "pool": "auto", "tags": ["batch1"]})
        assert status == 200 and done["count"] == 2
        status, body = await call(http, "GET", "/tokens?tag=batch1&sort=token")
        rows = {r["token"]: r for r in body["tokens"]}
        assert rows[NEW[0]]["pool"] == "heavy" and rows[NEW[0]]["tags"] == ["vip", "batch1"]
        assert rows[NEW[1]]["pool"] == "super"
        status, body = await call(http, "POST", "/tokens/import",
                                  json={"content": "not a token at all\n", "dry_run": True})
        assert status == 400 and body["error"]["param"] == "content"
        status, body = await call(http, "POST", "/tokens/import",
                                  json={"content": A, "pool": "gold"})
        assert status == 400 and body["error"]["param"] == "pool"


async def test_export_streams_the_filtered_rows(stack):
    async with await start(stack, "super", "super", "basic", "basic") as http:
        await call(http, "POST", "/tokens/add", json={"tokens": [A, B], "pool": "super",
                                                      "tags": ["keep"]})
        await call(http, "POST", "/tokens/add", json={"tokens": [C, D], "pool": "basic"})
        await call(http, "POST", "/tokens/disabled", json={"token": B, "disabled": True})
        async with http.get("/admin/api/tokens/export?tag=keep&format=txt") as resp:
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            assert (await resp.text()).split() == [A, B]
        async with http.get("/admin/api/tokens/export?status=active&sort=token") as resp:
            data = json.loads(await resp.text())
        assert data == {"super": [{"token": A, "tags": ["keep"]}],
                        "basic": [{"token": t, "tags": []} for t in sorted([C, D])]}
        async with http.get("/admin/api/tokens/export?format=xml") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "format"
        async with http.get("/admin/api/tokens/export?status=nope") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "status"


async def test_the_purge_preview_counts_what_the_purge_deletes(stack):
    async with await start(stack, "super", "super", "super") as http:
        await call(http, "POST", "/tokens/add", json={"tokens": [A, B, C], "pool": "super"})
        await call(http, "POST", "/tokens/disabled/batch", json={"tokens": [A, B],
                                                                 "disabled": True})
        status, preview = await call(http, "DELETE", "/tokens/invalid?dry_run=true")
        assert status == 200 and preview["would_delete"] == 2 and preview["deleted"] == 0
        assert preview["by_status"] == {"expired": 0, "disabled": 2}
        assert (await call(http, "GET", "/tokens"))[1]["total"] == 3
        assert (await call(http, "DELETE", "/tokens/invalid?dry_run=maybe"))[0] == 400
        status, done = await call(http, "DELETE", "/tokens/invalid")
        assert done == {"deleted": 2}
        status, body = await call(http, "GET", "/tokens")
        assert [r["token"] for r in body["tokens"]] == [C]
        # the counts follow an operator's change at once (not after the cache's lifetime)
        assert body["counts"]["total"] == 1 and body["counts"]["disabled"] == 0


async def test_counts_carry_the_stat_cards_and_tags(stack):
    async with await start(stack, "super", "super") as http:
        await call(http, "POST", "/tokens/add", json={"tokens": [A], "pool": "super",
                                                      "tags": ["team-a", "nsfw"]})
        await call(http, "POST", "/tokens/add", json={"tokens": [B], "pool": "super",
                                                      "tags": ["team-a"]})
        status, body = await call(http, "GET", "/tokens?page=1&page_size=1&sort=token&order=desc")
        assert status == 200 and body["total"] == 2
        assert [r["token"] for r in body["tokens"]] == [max(A, B)]
        counts = body["counts"]
        assert counts["tags"] == {"team-a": 2, "nsfw": 1} and counts["nsfw"] == 1
        assert counts["calls"] == 0 and counts["remaining"]["fast"] > 0
