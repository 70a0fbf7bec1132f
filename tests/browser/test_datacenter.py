"""The operator's view of traffic and storage in a real browser: the dashboard's charts and
totals, the request audit (filters, detail, export), the log viewer, and the cache page
(local files, online assets with a batch clear). What a page shows is checked against the
admin API too."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import Live
from tests.browser.support import WIDTHS, admin_page, shot

CHAT_MODEL = "grok-4.20-fast"


def v1(live: Live, path: str, body: dict[str, Any], request_id: str | None = None) -> int:
    """A client's call (the gateway is in open mode: no API key)."""
    req = urllib.request.Request(live.url + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if request_id:
        req.add_header("X-Request-Id", request_id)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as err:
        err.read()
        return err.code


def chat(live: Live, request_id: str | None = None, *, stream: bool = False,
         model: str = CHAT_MODEL) -> int:
    return v1(live, "/v1/chat/completions", {
        "model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]},
        request_id)


def images(live: Live, n: int) -> list[str]:
    """Generate `n` images; the names of their cached files."""
    before = {i["name"] for i in live.admin("GET", "/cache/list?type=image")["items"]}
    assert v1(live, "/v1/images/generations",
              {"model": "grok-imagine-image", "prompt": "a red fox", "n": n}) == 200
    after = {i["name"] for i in live.admin("GET", "/cache/list?type=image")["items"]}
    return sorted(after - before)


@pytest.fixture(scope="module")
def traffic(live: Live) -> Live:
    """Requests of several kinds: streams, a plain answer, a client error."""
    for i in range(3):
        assert chat(live, f"dash-stream-{i}", stream=True) == 200
    assert chat(live, "dash-plain", model="grok-4.20-auto") == 200
    assert chat(live, "dash-bad-model", model="no-such-model") == 400
    return live


def no_page_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width} > {inner}"


def chart_data(page: Page, canvas: str) -> dict[str, Any]:
    return page.evaluate("""(id) => {
        const chart = Chart.getChart(id);
        return {labels: chart.data.labels,
                sets: chart.data.datasets.map((d) => ({label: d.label, data: d.data}))};
    }""", canvas)


def wait_drawn(page: Page, canvas: str) -> None:
    """Until the canvas holds painted pixels (a chart with data, not an empty frame)."""
    page.wait_for_function("""(id) => {
        const c = document.getElementById(id);
        if (!c || !c.width || !Chart.getChart(id)) return false;
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]) n += 1;
        return n > 500;
    }""", arg=canvas)


# ---- dashboard ----------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_draws_the_apis_numbers(browser, traffic: Live, width: str) -> None:
    live = traffic
    with admin_page(browser, live, width, "/admin/datacenter") as page:
        expect(page.locator("body[data-loaded='24h']")).to_be_attached()
        usage = live.admin("GET", "/usage")
        totals = usage["totals"]
        assert totals["requests"] >= 5 and totals["failures"] >= 0
        expect(page.locator("#stat-requests .value")).to_have_text(str(totals["requests"]))
        rate = (totals["requests"] - totals["failures"]) / totals["requests"] * 100
        expect(page.locator("#stat-success-rate .value")).to_have_text(f"{rate:.1f}%")
        expect(page.locator("#stat-tokens .value")).to_have_text(f"{totals['total_tokens']:,}")
        for canvas in ("chart-requests", "chart-tokens", "chart-latency", "chart-models",
                       "chart-keys", "chart-tiers", "chart-accounts"):
            wait_drawn(page, canvas)
        requests = chart_data(page, "chart-requests")
        assert len(requests["labels"]) == 24
        ok, failed = (sum(s["data"]) for s in requests["sets"])
        assert (ok, failed) == (totals["requests"] - totals["failures"], totals["failures"])
        latency = chart_data(page, "chart-latency")
        drawn = [v for v in latency["sets"][0]["data"] if v is not None]
        assert drawn == [row["avg_duration_ms"] for row in usage["series"]]
        by_model = live.admin("GET", "/usage?group_by=model")["series"]
        models = chart_data(page, "chart-models")
        assert CHAT_MODEL in models["labels"]
        assert sum(models["sets"][0]["data"]) == sum(r["requests"] for r in by_model)
        tokens = live.admin("GET", "/metrics")["tokens"]
        expect(page.locator("#stat-accounts-active .value")).to_have_text(str(tokens["active"]))
        no_page_scroll(page)
        shot(page, "datacenter", width)

        page.click("#range button[data-range='7d']")
        expect(page.locator("body[data-loaded='7d']")).to_be_attached()
        week = live.admin("GET", f"/usage?from={int(time.time()) - 7 * 86400}")["totals"]
        expect(page.locator("#stat-requests .value")).to_have_text(str(week["requests"]))
        daily = chart_data(page, "chart-requests")
        assert len(daily["labels"]) == 7
        assert sum(sum(s["data"]) for s in daily["sets"]) == week["requests"]


# ---- request audit ------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_the_audit_filters_shows_a_row_and_exports(browser, traffic: Live, width: str) -> None:
    live = traffic
    with admin_page(browser, live, width, "/admin/requests") as page:
        expect(page.locator("body[data-loaded='1']")).to_be_attached()
        everything = live.admin("GET", "/requests?page_size=500")
        expect(page.locator("#total")).to_have_text(f"{everything['total']} rows")
        expect(page.locator("#rows tbody tr")).to_have_count(min(50, everything["total"]))
        shot(page, "requests", width)

        # the client error only: the status filter
        page.select_option("select[name=status]", "4xx")
        page.click("#apply")
        errors = live.admin("GET", "/requests?status=4xx")
        expect(page.locator("#total")).to_have_text(f"{errors['total']} rows")
        expect(page.locator("#rows tbody tr")).to_have_count(errors["total"])
        bad = next(r for r in errors["items"] if r["request_id"] == "dash-bad-model")
        row = page.locator(f"#rows tbody tr[data-id='{bad['id']}']")
        expect(row).to_contain_text("no-such-model")
        expect(page).to_have_url(re.compile(r"status=4xx"))

        # every field of the row in its dialog
        row.locator("button").click()
        detail = page.locator("#request-detail")
        expect(detail.locator("dd[data-field='request_id']")).to_have_text("dash-bad-model")
        expect(detail.locator("dd[data-field='status']")).to_have_text(str(bad["status"]))
        expect(detail.locator("dd[data-field='error_code']")).to_have_text(bad["error_code"] or "–")
        assert detail.locator("dt").count() == len(bad)
        page.keyboard.press("Escape")
        expect(detail).to_have_count(0)

        # the export carries the same filters
        if width == "desktop":
            with page.expect_download() as info:
                page.click("#export-csv")
            rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
            assert [r["request_id"] for r in rows] == [r["request_id"] for r in errors["items"]]
            page.select_option("select[name=status]", "")
            page.select_option("select[name=stream]", "true")
            page.click("#apply")
            streams = live.admin("GET", "/requests?stream=true")
            expect(page.locator("#total")).to_have_text(f"{streams['total']} rows")
            with page.expect_download() as info:
                page.click("#export-jsonl")
            lines = open(info.value.path(), encoding="utf-8").read().splitlines()
            assert {json.loads(x)["request_id"] for x in lines} == \
                {r["request_id"] for r in streams["items"]} >= {"dash-stream-0", "dash-stream-2"}

        # a range the server refuses: its message beside the field it names
        page.fill("input[name=from]", "2030-01-02T00:00:00")
        page.fill("input[name=to]", "2030-01-01T00:00:00")
        page.click("#apply")
        field = page.locator(".field.invalid[data-param='from']")
        expect(field.locator(".field-error")).to_contain_text("must not be later than to")
        no_page_scroll(page)


# ---- logs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_the_log_tail_shows_a_line_the_test_caused(browser, live: Live, width: str) -> None:
    marker = f"dash-log-{width}-{time.monotonic_ns()}"
    assert chat(live, marker) == 200
    with admin_page(browser, live, width, "/admin/logs") as page:
        expect(page.locator("body[data-loaded]")).to_be_attached()
        files = live.admin("GET", "/logs/files")["files"]
        expect(page.locator("#log-file")).to_have_value(files[0]["name"])
        shot(page, "logs", width)
        page.fill("#log-filter", marker.upper())  # any case
        text = page.locator("#log-text")
        expect(text).to_contain_text(marker)
        expect(text.locator("mark.hit").first).to_have_text(marker)
        shown = [x for x in text.inner_text().splitlines() if x.strip()]
        api_lines = live.admin("GET", f"/logs/tail?q={marker}")["lines"]
        assert shown == api_lines and all(marker in x for x in shown)
        no_page_scroll(page)
        if width == "desktop":
            # auto-refresh: a line written after the page showed the tail appears on its own
            later = marker + "-later"
            page.fill("#log-filter", later)
            expect(text).to_contain_text("No line")
            page.check("#log-auto")
            assert chat(live, later) == 200
            expect(text).to_contain_text(later, timeout=8000)


# ---- cache --------------------------------------------------------------------------------

def confirm(page: Page) -> None:
    page.locator("dialog.modal footer button.danger").click()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_cache_page_shows_deletes_and_clears(browser, live: Live, width: str) -> None:
    names = images(live, 3)
    assert len(names) == 3
    with admin_page(browser, live, width, "/admin/cache") as page:
        expect(page.locator("body[data-loaded='image']")).to_be_attached()
        stats = live.admin("GET", "/cache")["local_image"]
        expect(page.locator("#stat-image .value")).to_have_text(str(stats["count"]))
        tile = page.locator(f".tile[data-name='{names[0]}']")
        expect(tile).to_be_visible()
        tile.locator("img").scroll_into_view_if_needed()
        page.wait_for_function("(n) => { const i = document.querySelector(`.tile[data-name='${n}'] img`);"
                               " return i && i.complete && i.naturalWidth > 0; }", arg=names[0])
        no_page_scroll(page)
        shot(page, "cache", width)

        # one
        tile.locator("button.delete").click()
        confirm(page)
        expect(tile).to_have_count(0)
        listed = {i["name"] for i in live.admin("GET", "/cache/list?type=image")["items"]}
        assert names[0] not in listed and names[1] in listed

        # the selection, from the batch bar
        for name in names[1:]:
            page.locator(f".tile[data-name='{name}'] input[type=checkbox]").check()
        expect(page.locator("#batch-count")).to_have_text("2 selected")
        bar = page.locator("#batch-bar").bounding_box()
        if width == "phone":  # full width at the bottom
            assert bar["x"] == 0 and bar["width"] == WIDTHS["phone"][0]["width"]
        page.click("#batch-delete")
        confirm(page)
        for name in names[1:]:
            expect(page.locator(f".tile[data-name='{name}']")).to_have_count(0)
        listed = {i["name"] for i in live.admin("GET", "/cache/list?type=image")["items"]}
        assert not listed & set(names)
        expect(page.locator("#batch-bar")).to_be_hidden()

        # clear the kind
        images(live, 1)
        page.click("#local-refresh")
        expect(page.locator(".tile")).not_to_have_count(0)
        page.click("#local-clear")
        confirm(page)
        expect(page.locator("#media-grid .empty")).to_be_visible()
        expect(page.locator("#stat-image .value")).to_have_text("0")
        assert live.admin("GET", "/cache")["local_image"]["count"] == 0


def upload_asset(live: Live) -> None:
    """A chat with an image: the gateway uploads it to the account it picked (an asset)."""
    pixel = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 64).decode()
    status = v1(live, "/v1/chat/completions", {"model": CHAT_MODEL, "messages": [{
        "role": "user", "content": [{"type": "text", "text": "what is this"}, {
            "type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{pixel}"}}]}]})
    assert status == 200


def sim_fault(live: Live, token: str, ms: int) -> None:
    """grok.com answers this account's next asset listing after `ms` milliseconds."""
    body = {"fault": "slow_first_byte", "token": token, "path": "/rest/assets", "times": 1,
            "options": {"first_byte_ms": ms}}
    req = urllib.request.Request(live.sim_url + "/__sim/faults", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.parametrize("width", WIDTHS)
def test_online_assets_clear_in_a_batch_with_progress_and_stop(browser, live: Live,
                                                               width: str) -> None:
    for _ in range(2):
        upload_asset(live)
    listing = live.admin("GET", "/assets")
    assert listing["total_assets"] >= 2
    accounts = len(listing["tokens"])
    with admin_page(browser, live, width, "/admin/cache?tab=online") as page:
        expect(page.locator("body[data-loaded='online']")).to_be_attached()
        expect(page.locator("#online-total")).to_contain_text(f"{listing['total_assets']} files")
        expect(page.locator("#accounts tbody tr:not(.sub)")).to_have_count(accounts)
        # tokens stay masked: no full token anywhere on the page
        html = page.content()
        assert not any(token in html for token in live.tokens)
        no_page_scroll(page)
        shot(page, "cache-online", width)

        # two accounts answer quickly, the rest hang: the bar moves, then the run is stopped
        for i, token in enumerate(live.tokens):
            sim_fault(live, token, 150 * (i + 1) if i < 2 else 10_000)
        with page.expect_response(re.compile(r"/admin/api/batch/cache-clear")) as started:
            page.click("#online-clear-all")
            confirm(page)
        task_id = started.value.json()["task_id"]
        expect(page.locator("#task-count")).to_contain_text(f"2 / {accounts} accounts")
        page.click("#task-cancel")
        expect(page.locator("#task[data-status='cancelled']")).to_be_attached()
        task = live.admin("GET", f"/batch/{task_id}")
        assert task["status"] == "cancelled" and task["processed"] == 2

        # again, to the end
        page.click("#online-clear-all")
        confirm(page)
        expect(page.locator("#task[data-status='done']")).to_be_attached()
        expect(page.locator("#task-count")).to_contain_text(f"{accounts} / {accounts} accounts")
        expect(page.locator("#online-total")).to_contain_text("0 files")
        assert live.admin("GET", "/assets")["total_assets"] == 0
