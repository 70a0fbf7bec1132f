"""What the browser tests share: the widths, a watched browser context, logging in, a page
of the admin, screenshots."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.live import Live

__all__ = ["ARTEFACTS", "WIDTHS", "PageWatch", "admin_page", "login",
           "open_context", "shot", "wait_true"]

ARTEFACTS = Path(os.environ.get("GROK2API_TEST_ARTEFACTS")
                 or Path(__file__).resolve().parents[1] / "artefacts")
#: name → (viewport, phone?)
WIDTHS = {"desktop": ({"width": 1280, "height": 860}, False),
          "phone": ({"width": 390, "height": 844}, True)}


class PageWatch:
    """What a page did wrong: requests off loopback, console errors, uncaught exceptions."""

    def __init__(self, context: BrowserContext) -> None:
        self.offsite: list[str] = []
        self.errors: list[str] = []
        context.on("request", self._request)

    def _request(self, request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in (
                "127.0.0.1", "localhost"):
            self.offsite.append(request.url)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        return page

    def _console(self, msg) -> None:
        # a refused API call is logged as "Failed to load resource" too: pages show those
        # (tests check the toasts); a missing file of the page is caught in `_response`
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _response(self, response) -> None:
        if "/static/" in response.url and response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def check(self, *, allow_errors: tuple[str, ...] = ()) -> None:
        assert not self.offsite, f"pages fetched from off loopback: {self.offsite}"
        errors = [e for e in self.errors if not any(a in e for a in allow_errors)]
        assert not errors, f"console errors: {errors}"


@contextmanager
def open_context(browser: Browser, width: str, *, allow_errors: tuple[str, ...] = ()
                 ) -> Iterator[tuple[BrowserContext, PageWatch]]:
    viewport, phone = WIDTHS[width]
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone,
                                  device_scale_factor=1, locale="en-GB")
    context.set_default_timeout(10_000)
    watch = PageWatch(context)
    try:
        yield context, watch
        watch.check(allow_errors=allow_errors)
    finally:
        context.close()


def login(context: BrowserContext, live: Live, secret: str | None = None) -> None:
    """A session as the login page would open it (its cookie lands in `context`)."""
    answer = context.request.post(live.url + "/admin/api/login",
                                  data={"app_key": secret or live.secret})
    assert answer.ok, answer.text()


@contextmanager
def admin_page(browser: Browser, live: Live, width: str, path: str, *,
               allow_errors: tuple[str, ...] = ()) -> Iterator[Page]:
    """A logged-in page at `path` (e.g. `/admin/account`), watched; checked when it closes."""
    with open_context(browser, width, allow_errors=allow_errors) as (context, watch):
        login(context, live)
        page = watch.attach(context.new_page())
        page.goto(live.url + path)
        yield page


def shot(page: Page, name: str, width: str) -> Path:
    """A full-page screenshot under the artefacts folder."""
    path = ARTEFACTS / "screens" / f"{name}-{width}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_true(page: Page, expression: str, timeout: float = 10.0) -> None:
    """Poll `expression` until it is true. Playwright's wait_for_function evaluates its string
    inside the page, which the pages' CSP (no eval) refuses; evaluate() does not."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {expression}"
        time.sleep(0.05)
