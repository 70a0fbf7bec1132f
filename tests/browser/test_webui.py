"""The web chat and imagine pages in a real browser: /webui/* behind app.webui_enabled and
app.webui_key, and the same pages under /admin/chat and /admin/imagine for a logged-in
admin. Each thing the page shows is checked through the API as well (the request audit)."""
from __future__ import annotations

import base64
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.live import Live, start_live
from tests.browser.support import WIDTHS, admin_page, open_context, shot, wait_true

KEY = "webui-browser-key-0456"
CHAT_MODEL = "grok-4.20-fast"
IMAGE_MODEL = "grok-imagine-image"


def _page_status(live: Live, path: str) -> int:
    try:
        with urllib.request.urlopen(live.url + path, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def _webui_config(live: Live, enabled: bool) -> None:
    """The WebUI settings in the gateway's config file, which it re-reads within a second of
    a change: wait until the pages say so."""
    path: Path = live.data_dir / "config.toml"
    text = re.sub(r"\nwebui_(enabled|key) = .*", "", path.read_text())
    path.write_text(text.rstrip("\n") + f'\nwebui_enabled = {str(enabled).lower()}\n'
                    f'webui_key = "{KEY}"\n')
    want = 200 if enabled else 404
    deadline = time.monotonic() + 5
    while _page_status(live, "/webui/login") != want:
        assert time.monotonic() < deadline, "the gateway did not take the new settings"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = start_live(tmp_path_factory.mktemp("webui"))
    _webui_config(server, True)
    yield server
    server.stop()


def latest_request(live: Live, endpoint: str) -> dict:
    rows = live.admin("GET", "/requests?page_size=20")["items"]
    return next(r for r in rows if r["endpoint"] == endpoint)


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def webui_login(page: Page, live: Live, path: str = "/webui/chat") -> None:
    page.goto(live.url + "/webui/login?next=" + path)
    page.fill("#webui-key", KEY)
    page.click("#webui-login-submit")
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def ask(page: Page, model: str, text: str) -> None:
    expect(page.locator(f"#chat-model option[value='{model}']")).to_have_count(1)
    page.select_option("#chat-model", model)
    page.fill("#chat-prompt", text)
    page.click("#chat-send")


@pytest.mark.parametrize("width", WIDTHS)
def test_login_then_a_chat_stream_with_its_reasoning_apart(browser: Browser, live: Live,
                                                           width: str) -> None:
    with open_context(browser, width) as (context, watch):
        page = watch.attach(context.new_page())
        page.goto(live.url + "/webui")
        expect(page).to_have_url(re.compile(r"/webui/login$"))
        page.fill("#webui-key", "not-the-key")
        page.click("#webui-login-submit")
        expect(page.locator("#webui-login-error")).to_have_text("Invalid WebUI key")
        shot(page, "webui-login", width)
        page.fill("#webui-key", KEY)
        page.click("#webui-login-submit")
        expect(page).to_have_url(re.compile(r"/webui/chat$"))
        # the key lives in this tab's storage only, never in a cookie
        assert page.evaluate("sessionStorage.getItem('grok2api.webui_key')") == KEY
        assert not [c for c in context.cookies() if KEY in c["value"]]
        # models grouped by capability
        expect(page.locator("#chat-model optgroup")).to_have_count(3)
        groups = page.locator("#chat-model optgroup").evaluate_all("gs => gs.map(g => g.label)")
        assert groups == ["Chat", "Images", "Video"]
        ask(page, CHAT_MODEL, "hello [[sim think=1 delay_ms=20]]")
        answer = page.locator(".msg.assistant .answer").last
        expect(answer).to_have_text("Hello from the grok simulator.")
        reasoning = page.locator(".msg.assistant details.reasoning").last
        expect(reasoning.locator(".reasoning-text")).to_contain_text("Thinking step 0.")
        expect(answer).not_to_contain_text("Thinking")
        expect(reasoning).not_to_have_attribute("open", "")  # folded once the answer came
        expect(page.locator("#chat-retry")).to_be_visible()
        row = latest_request(live, "webui.chat")
        assert row["key_name"] == "webui" and row["status"] == 200 and row["model"] == CHAT_MODEL
        no_sideways_scroll(page)
        shot(page, "webui-chat", width)
        # retry asks again and replaces the last answer
        page.click("#chat-retry")
        expect(page.locator(".msg.assistant")).to_have_count(1)
        expect(page.locator(".msg.assistant .msg-status")).to_have_text(CHAT_MODEL)
        if width == "phone":
            page.click("#nav-toggle")
        page.click("#webui-logout")
        expect(page).to_have_url(re.compile(r"/webui/login$"))
        assert page.evaluate("sessionStorage.getItem('grok2api.webui_key')") is None


def test_stop_ends_the_stream_and_model_output_stays_text(browser: Browser, live: Live) -> None:
    attack = ('<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
              '[click](javascript:window.__xss=3) **bold**')
    say = base64.urlsafe_b64encode(attack.encode()).decode().rstrip("=")
    with open_context(browser, "desktop") as (context, watch):
        page = watch.attach(context.new_page())
        webui_login(page, live)
        ask(page, CHAT_MODEL, f"[[sim say={say} chunk=7]]")
        answer = page.locator(".msg.assistant .answer").last
        expect(answer).to_contain_text('<img src=x onerror="window.__xss=1">')
        expect(answer).to_contain_text("<script>window.__xss=2</script>")
        expect(answer.locator("strong")).to_have_text("bold")
        assert answer.locator("img, script").count() == 0
        assert answer.locator("a").count() == 0  # a javascript: link is no link
        page.locator(".msg.assistant .answer").last.click()
        assert page.evaluate("window.__xss") is None
        # stop: a slow stream ends where it was, marked as stopped
        ask(page, CHAT_MODEL, "[[sim tokens=400 delay_ms=30]]")
        expect(page.locator(".msg.assistant .answer").last).to_contain_text("w3 ")
        page.click("#chat-stop")
        expect(page.locator(".msg.assistant .msg-status").last).to_have_text("Stopped")
        expect(page.locator("#chat-send")).to_be_enabled()
    time.sleep(0.3)
    assert latest_request(live, "webui.chat")["status"] == 499  # the gateway saw it go


def test_an_image_model_shows_its_image_inline(browser: Browser, live: Live) -> None:
    with open_context(browser, "desktop") as (context, watch):
        page = watch.attach(context.new_page())
        webui_login(page, live)
        ask(page, IMAGE_MODEL, "a lighthouse at dusk")
        image = page.locator(".msg.assistant .answer img.chat-media")
        expect(image).to_have_count(1, timeout=20_000)
        src = image.get_attribute("src")
        assert src.startswith(live.url + "/v1/files/image?id=")
        wait_true(page, "document.querySelector('.answer img').naturalWidth > 0")
        expect(page.locator(".msg.assistant details.reasoning")).to_contain_text("Image generating")
    row = latest_request(live, "webui.chat")
    assert row["model"] == IMAGE_MODEL and row["status"] == 200
    with urllib.request.urlopen(src) as answer:  # the link opens without any key
        assert answer.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("width", WIDTHS)
def test_an_imagine_run_fills_the_waterfall(browser: Browser, live: Live, width: str) -> None:
    with open_context(browser, width) as (context, watch):
        page = watch.attach(context.new_page())
        webui_login(page, live, "/webui/imagine")
        page.click("#imagine-start")  # no prompt yet: said beside the field
        expect(page.locator("#imagine-prompt-error")).to_have_text("Describe the image first")
        page.fill("#imagine-prompt", "a red fox in the snow")
        page.select_option("#imagine-ratio", "2:3")
        page.select_option("#imagine-count", "4")
        page.click("#imagine-start")
        expect(page.locator("#imagine-grid .tile")).to_have_count(4)
        expect(page.locator("#imagine-grid .tile.done img")).to_have_count(4, timeout=20_000)
        expect(page.locator("#imagine-status")).to_have_text("Done: 4 images")
        wait_true(page, "[...document.querySelectorAll('#imagine-grid img')]"
                        ".every(i => i.complete && i.naturalWidth > 0)")
        no_sideways_scroll(page)
        shot(page, "webui-imagine", width)
    row = latest_request(live, "webui.imagine")
    assert row["key_name"] == "webui" and row["model"] == IMAGE_MODEL and row["status"] == 200


def test_the_masonry_alias_and_disabled_pages(browser: Browser, live: Live) -> None:
    with open_context(browser, "desktop") as (context, watch):
        page = watch.attach(context.new_page())
        webui_login(page, live, "/webui/masonry")
        expect(page.locator("#imagine-form")).to_be_visible()
        _webui_config(live, False)
        try:
            for path in ("/webui/login", "/webui/chat", "/webui/imagine"):
                assert page.goto(live.url + path).status == 404
        finally:
            _webui_config(live, True)
    # the key still opens the API (AUTH-22), the disabled pages did not
    status, body = live.call("GET", "/webui/api/verify", secret=KEY)
    assert status == 200 and body == {"status": "ok"}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_admin_chat_and_imagine_pages(browser: Browser, live: Live, width: str) -> None:
    with admin_page(browser, live, width, "/admin/chat") as page:
        ask(page, CHAT_MODEL, "hello admin [[sim think=1]]")
        expect(page.locator(".msg.assistant .answer").last).to_have_text(
            "Hello from the grok simulator.")
        no_sideways_scroll(page)
        shot(page, "chat", width)
        row = latest_request(live, "webui.chat")
        assert row["key_name"] == "admin"
        page.goto(live.url + "/admin/imagine")
        page.fill("#imagine-prompt", "an owl")
        page.select_option("#imagine-count", "2")
        page.click("#imagine-start")
        expect(page.locator("#imagine-grid .tile.done img")).to_have_count(2, timeout=20_000)
        no_sideways_scroll(page)
        shot(page, "imagine", width)
    assert latest_request(live, "webui.imagine")["key_name"] == "admin"
