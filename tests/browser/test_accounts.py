"""The accounts page in a real browser: stat cards, filters, paging and sorting, add, import
with a preview, export, row edit, batch actions with progress and cancel, the invalid purge;
each checked through the admin API as a script sees it."""
from __future__ import annotations

import json
import re
import urllib.request
import zlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.live import Live, start_live
from tests.browser.support import WIDTHS, admin_page, shot

XSS_NOTE = '<img src=x onerror=alert(1)><script>alert(2)</script>" onmouseover="alert(3)'


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Six super accounts; quota probes one at a time, so that a batch refresh slowed down
    in the simulator shows its progress and can be stopped halfway."""
    server = start_live(tmp_path_factory.mktemp("accounts"),
                        env={"GROK_ACCOUNT__REFRESH__USAGE_CONCURRENCY": "1"})
    yield server
    server.stop()


def sim(live: Live, path: str, body: dict) -> dict:
    req = urllib.request.Request(live.sim_url + path, data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.loads(answer.read())


def mask(token: str) -> str:
    return f"{token[:8]}...{token[-8:]}"


def row(page: Page, token: str):
    return page.locator(f'#rows tr[data-mask="{mask(token)}"]')


def tokens(live: Live, query: str = "") -> list[dict]:
    return live.admin("GET", "/tokens" + (f"?{query}" if query else ""))["tokens"]


def find(page: Page, token: str) -> None:
    """Search the table down to the one row of `token`."""
    with page.expect_response(lambda r: "/admin/api/tokens?" in r.url and "search=" in r.url):
        page.fill("#search", token[:30])
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#total-rows")).to_have_text("1 rows")


def no_page_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_table_shows_the_accounts_with_filters_paging_and_sorting(
        browser: Browser, live: Live, width: str) -> None:
    with admin_page(browser, live, width, "/admin/account") as page:
        api = live.admin("GET", "/tokens?page=1&page_size=50")
        expect(page.locator("#stat-total .value")).to_have_text(str(api["counts"]["total"]))
        expect(page.locator("#rows tr")).to_have_count(len(api["tokens"]))
        expect(page.locator("#stat-quota-fast")).to_be_visible()
        no_page_scroll(page)
        shot(page, "accounts", width)
        # sort by token, descending: the first row is the API's first row of the same sort
        page.click('th[data-col="token"]')
        page.click('th[data-col="token"]')
        first = live.admin("GET", "/tokens?sort=token&order=desc&page=1&page_size=1")["tokens"][0]
        expect(page.locator("#rows tr").first).to_have_attribute("data-mask", mask(first["token"]))
        # the page size is asked of the server; six accounts fill one page
        with page.expect_response(lambda r: "page_size=20" in r.url):
            page.select_option("#page-size", "20")
        expect(page.locator("#page-of")).to_have_text("Page 1 of 1")
        expect(page.locator("#next")).to_be_disabled()


def new_tokens(prefix: str, n: int) -> list[str]:
    """Tokens that differ in their masked form too (its last 8 characters)."""
    return [f"eyJhbGciOiJIUzI1NiJ9.{prefix}-{i}.{'k' * 30}"
            f"{zlib.crc32(f'{prefix}-{i}'.encode()):08x}" for i in range(n)]


@pytest.mark.parametrize("width", WIDTHS)
def test_add_then_edit_a_row_and_a_hostile_note_stays_text(browser: Browser, live: Live,
                                                          width: str) -> None:
    fresh = new_tokens(f"added-{width}", 2)
    with admin_page(browser, live, width, "/admin/account") as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.click("#add")
        page.fill("#add-tokens", f"{fresh[0]}\n sso={fresh[1]} \n")
        page.select_option("#add-pool", "basic")
        page.fill("#add-tags", f"team-{width}")
        page.click('dialog [data-action="true"]')
        expect(page.locator(".toast.ok")).to_contain_text("2 added")
        stored = {r["token"]: r for r in tokens(live, f"tag=team-{width}")}
        assert set(stored) == set(fresh) and {r["pool"] for r in stored.values()} == {"basic"}
        # edit: a bad tag names its field; then a hostile note is saved and shown as text
        row(page, fresh[0]).locator('[data-action="edit"]').click()
        page.fill("#edit-tags", "ok " + "x" * 80)
        page.click('dialog [data-action="true"]')
        expect(page.locator("#field-tags .field-error")).to_contain_text("at most 64")
        page.fill("#edit-tags", f"team-{width} vip")
        page.fill("#edit-note", XSS_NOTE)
        page.click('dialog [data-action="true"]')
        expect(page.locator(".toast.ok").last).to_have_text("Saved")
        saved = next(r for r in tokens(live) if r["token"] == fresh[0])
        assert saved["note"] == XSS_NOTE and saved["tags"] == [f"team-{width}", "vip"]
        note = row(page, fresh[0]).locator("td.note")
        expect(note).to_have_text(XSS_NOTE)
        assert note.evaluate("el => el.textContent") == XSS_NOTE
        assert note.evaluate("el => el.children.length") == 0
        assert page.locator("#rows img, #rows script").count() == 0
        no_page_scroll(page)
        page.wait_for_timeout(200)
        assert not dialogs


@pytest.mark.parametrize("width", WIDTHS)
def test_import_shows_a_preview_before_it_adds(browser: Browser, live: Live, width: str) -> None:
    fresh = new_tokens(f"imported-{width}", 2)
    text = "\n".join([live.tokens[0], fresh[0], fresh[1], fresh[0], "two words here"]) + "\n"
    with admin_page(browser, live, width, "/admin/account") as page:
        before = live.admin("GET", "/tokens?page=1&page_size=1")["total"]
        page.set_input_files("#import-file", files=[{
            "name": "accounts.txt", "mimeType": "text/plain", "buffer": text.encode()}])
        expect(page.locator("#preview-add .value")).to_have_text("2")
        expect(page.locator("#preview-existing .value")).to_have_text("1")
        expect(page.locator("#preview-duplicates .value")).to_have_text("1")
        expect(page.locator("#preview-rejected .value")).to_have_text("1")
        expect(page.locator("#preview-rejected-list li")).to_contain_text("line 5")
        shot(page, "accounts-import", width)
        # the preview added nothing
        assert live.admin("GET", "/tokens?page=1&page_size=1")["total"] == before
        page.select_option("#import-pool", "super")
        expect(page.locator("#import-preview")).to_contain_text("→ Super")
        page.click('dialog [data-action="true"]')
        expect(page.locator(".toast.ok")).to_contain_text("2 imported")
        rows = {r["token"]: r for r in tokens(live)}
        assert all(rows[t]["pool"] == "super" for t in fresh)
        assert live.admin("GET", "/tokens?page=1&page_size=1")["total"] == before + 2


def test_filters_select_rows_and_export_takes_the_filtered_rows(browser: Browser,
                                                                live: Live) -> None:
    with admin_page(browser, live, "desktop", "/admin/account") as page:
        tagged = tokens(live, "tag=team-desktop")
        assert tagged
        page.select_option("#f-tag", "team-desktop")
        expect(page.locator("#rows tr")).to_have_count(len(tagged))
        expect(page.locator("#total-rows")).to_have_text(f"{len(tagged)} rows")
        with page.expect_download() as info:
            page.click("#export-txt")
        txt = open(info.value.path(), encoding="utf-8").read().split()
        assert sorted(txt) == sorted(r["token"] for r in tagged)
        page.click('#f-pool [data-value="basic"]')
        basic = tokens(live, "tag=team-desktop&pool=basic")
        expect(page.locator("#rows tr")).to_have_count(len(basic))
        with page.expect_download() as info:
            page.click("#export-json")
        data = json.loads(open(info.value.path(), encoding="utf-8").read())
        assert data == {"basic": [{"token": r["token"], "tags": r["tags"]} for r in basic]}
        # search narrows further, in the server
        page.fill("#search", "added-desktop-1")
        expect(page.locator("#rows tr")).to_have_count(1)
        assert len(tokens(live, "search=added-desktop-1")) == 1


def test_batch_actions_follow_the_selection_with_progress_and_cancel(browser: Browser,
                                                                    live: Live) -> None:
    # quota probes answer slowly for a while: a refresh of the selection takes seconds
    sim(live, "/__sim/faults", {"fault": "slow_first_byte", "path": "/rest/rate-limits",
                                "times": 16, "options": {"first_byte_ms": 400}})
    with admin_page(browser, live, "desktop", "/admin/account") as page:
        page.check("#select-page")
        n = page.locator("#rows tr").count()
        expect(page.locator("#selected-count")).to_have_text(f"{n} selected")
        # the selection is kept by token: filtering every row away keeps it
        page.click('#f-pool [data-value="heavy"]')
        expect(page.locator("#rows td.empty")).to_be_visible()
        expect(page.locator("#selected-count")).to_have_text(f"{n} selected")
        page.click('#f-pool [data-value="all"]')
        with page.expect_response(
                lambda r: r.url.endswith("/admin/api/batch/refresh?async=true")) as started:
            page.click("#batch-refresh")
        task_id = started.value.json()["task_id"]
        expect(page.locator("#batch-progress")).to_be_visible()
        expect(page.locator("#batch-progress-text")).to_have_text(re.compile(rf"^[1-9]\d* / {n} "),
                                                                   timeout=15_000)
        shot(page, "accounts-batch", "desktop")
        page.click("#batch-cancel")
        expect(page.locator(".toast").last).to_contain_text("Stopped after")
        task = live.admin("GET", f"/batch/{task_id}")
        assert task["status"] == "cancelled" and 0 < task["processed"] < n
        # a batch that runs to the end: NSFW on for two accounts picked on the table
        page.click("#batch-clear")
        expect(page.locator("#batch-bar")).to_be_hidden()
        pair = live.tokens[:2]
        for i, token in enumerate(pair):  # the simulator's tokens share their masked form
            find(page, token)
            page.locator("#rows .row-select").check()
            expect(page.locator("#selected-count")).to_have_text(f"{i + 1} selected")
        page.fill("#search", "")
        page.click("#batch-nsfw-on")
        expect(page.locator(".toast.ok").last).to_have_text("Done: 2 succeeded, 0 failed",
                                                            timeout=15_000)
        nsfw = {r["token"] for r in tokens(live, "nsfw=true")}
        assert set(pair) <= nsfw
        expect(page.locator('#f-nsfw [data-value="true"] .n')).to_have_text(str(len(nsfw)))


@pytest.mark.parametrize("width", WIDTHS)
def test_disable_then_purge_the_invalid_after_a_preview(browser: Browser, live: Live,
                                                       width: str) -> None:
    victim = live.tokens[4] if width == "desktop" else live.tokens[5]
    with admin_page(browser, live, width, "/admin/account") as page:
        find(page, victim)
        page.locator('#rows [data-action="disable"]').click()
        expect(page.locator("#rows .state")).to_have_text("Disabled")
        assert next(r for r in tokens(live) if r["token"] == victim)["status"] == "disabled"
        preview = live.admin("DELETE", "/tokens/invalid?dry_run=true")
        assert preview["would_delete"] >= 1
        page.click("#purge")
        expect(page.locator("dialog")).to_contain_text(
            f"Delete {preview['would_delete']} invalid accounts")
        shot(page, "accounts-purge", width)
        page.click('dialog [data-action="true"]')
        expect(page.locator(".toast.ok").last).to_have_text(f"{preview['would_delete']} deleted")
        assert victim not in {r["token"] for r in tokens(live)}
        assert live.admin("DELETE", "/tokens/invalid?dry_run=true")["would_delete"] == 0
        expect(page.locator("#stat-disabled .value")).to_have_text("0")
        expect(page.locator("#rows td.empty")).to_be_visible()  # the search still shows it
