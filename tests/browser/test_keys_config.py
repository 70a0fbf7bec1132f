"""The API keys page and the config page in a real browser, at both widths; what each page
shows or changes is checked through the admin API (or config.toml) as well."""
from __future__ import annotations

import re
import tomllib
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.live import Live
from tests.browser.support import WIDTHS, admin_page, shot

XSS = '<img src=x onerror="document.title=\'pwned\'">'


def keys_named(live: Live, name: str) -> list[dict]:
    return live.admin("GET", f"/keys?q={quote(name)}")["data"]


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def dialog_button(page: Page, value: str):
    return page.locator(f"dialog[open] footer button[data-action='{value}']")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_key_is_created_shown_once_edited_disabled_and_deleted(
        browser: Browser, live: Live, width: str) -> None:
    name = f"{XSS} {width}"
    with admin_page(browser, live, width, "/admin/keys") as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        expect(page.locator("#key-cards [data-stat=total] .value")).to_be_visible()
        page.click("#key-new")
        form = page.locator("dialog[open] form.key-form")
        form.locator("input[name=name]").fill(name)
        form.locator("button[data-preset=trial]").click()
        expect(form.locator("input[name='limits.chat_per_day']")).to_have_value("50")
        dialog_button(page, "true").click()
        value = page.locator("#new-key-value")
        expect(value).to_have_text(re.compile(r"^sk-[A-Za-z0-9_-]{32}$"))
        secret = value.inner_text()
        page.click("#new-key-copy")
        expect(page.locator(".toast.ok").last).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        shot(page, "keys-created", width)
        dialog_button(page, "true").click()
        # listed once, by its shown form only; the name stayed text
        [key] = keys_named(live, name)
        assert key["limits"]["chat_per_day"] == 50 and key["rpm"] == 10
        assert secret.startswith(key["display_key"][:6]) and secret.endswith(key["display_key"][-4:])
        assert secret not in str(live.admin("GET", "/keys"))
        row = page.locator(f"tr[data-id='{key['id']}']")
        expect(row.locator(".key-name")).to_have_text(name)
        assert row.locator("img").count() == 0 and page.title() != "pwned"
        expect(row).to_contain_text(key["display_key"])
        # the server's complaint lands beside the field it names
        row.locator("button[data-action=edit]").click()
        form = page.locator("dialog[open] form.key-form")
        form.locator("textarea[name=models]").fill("grok-4.20-fast, no-such-model")
        form.locator("input[name=rpm]").fill("7")
        dialog_button(page, "true").click()
        error = form.locator("[data-param=models] .field-error")
        expect(error).to_contain_text("unknown model 'no-such-model'")
        assert keys_named(live, name)[0]["rpm"] == 10  # nothing was saved
        form.locator("textarea[name=models]").fill("grok-4.20-fast")
        dialog_button(page, "true").click()
        expect(page.locator("dialog[open]")).to_have_count(0)
        [key] = keys_named(live, name)
        assert key["rpm"] == 7 and key["models"] == ["grok-4.20-fast"]
        expect(row).to_contain_text("7/min")
        # disable, then enable through the filter's view
        row.locator("button[data-action=toggle]").click()
        expect(row.locator(".status-disabled")).to_have_text("Disabled")
        assert keys_named(live, name)[0]["is_active"] is False
        page.click("#key-filters button[data-status=disabled]")
        expect(page.locator("#key-rows tr")).to_have_count(
            live.admin("GET", "/keys?status=disabled")["total"])
        page.fill("#key-search", name)
        expect(page.locator("#key-rows tr")).to_have_count(1)
        no_sideways_scroll(page)
        shot(page, "keys", width)
        page.click("#key-filters button[data-status='']")
        row.locator("button[data-action=delete]").click()
        dialog_button(page, "true").click()
        expect(row).to_have_count(0)
        assert keys_named(live, name) == []


def config_value(live: Live, key: str) -> dict:
    return next(o for o in live.admin("GET", "/config")["options"] if o["key"] == key)


@pytest.mark.parametrize("width", WIDTHS)
def test_config_is_edited_checked_and_saved(browser: Browser, live: Live, width: str) -> None:
    wanted = {"desktop": 2, "phone": 3}[width]
    with admin_page(browser, live, width, "/admin/config") as page:
        retries = page.locator(".cfg-field[data-key='retry.max_retries']")
        box = retries.locator("input")
        bar = page.locator("#cfg-unsaved")
        expect(box).to_be_visible()
        before = box.input_value()
        expect(bar).to_be_hidden()
        # the bar counts changes, and goes when a value is put back or discarded
        box.fill(str(wanted))
        expect(bar).to_be_visible()
        expect(page.locator("#cfg-unsaved-count")).to_have_text("1 unsaved change(s)")
        box.fill(before)
        expect(bar).to_be_hidden()
        box.fill(str(wanted))
        page.click("#cfg-discard")
        expect(bar).to_be_hidden()
        expect(box).to_have_value(before)
        # a value the declaration refuses: the server's message on its field, nothing saved
        box.fill(str(wanted))
        hours = page.locator(".cfg-field[data-key='admin.session_hours']")
        hours.locator("input").fill("0")
        expect(page.locator("#cfg-unsaved-count")).to_have_text("2 unsaved change(s)")
        page.click("#cfg-save")
        expect(hours.locator(".field-error")).to_contain_text("admin.session_hours")
        assert config_value(live, "retry.max_retries")["value"] == int(before)
        hours.locator("input").fill("12")
        expect(hours.locator(".field-error")).to_have_count(0)
        page.click("#cfg-save")
        expect(page.locator(".toast.ok").last).to_contain_text("Saved 1 setting")
        expect(bar).to_be_hidden()
        assert config_value(live, "retry.max_retries") | {} == config_value(
            live, "retry.max_retries") | {"value": wanted, "source": "file"}
        saved = tomllib.loads((live.data_dir / "config.toml").read_text())
        assert saved["retry"]["max_retries"] == wanted and "admin" not in saved
        expect(retries.locator(".chip")).to_have_text("config.toml")
        # a key the environment sets is read-only and names the variable
        upstream = page.locator(".cfg-field[data-key='upstream.base_url']")
        expect(upstream.locator("input")).to_be_disabled()
        expect(upstream.locator(".env-note")).to_contain_text("GROK_UPSTREAM_BASE_URL")
        # the admin secret is only "set", never shown
        expect(page.locator(".cfg-field[data-key='app.app_key'] .secret-state")).to_have_text("Set")
        assert live.secret not in page.content()
        no_sideways_scroll(page)
        page.fill("#cfg-search", "max_retries")
        expect(page.locator(".cfg-field:visible")).to_have_count(1)
        page.fill("#cfg-search", "")
        shot(page, "config", width)
