"""Logging in to the admin pages, the first-run setup, lockout and the session's safety."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.live import Live, start_live
from tests.browser.support import WIDTHS, login, open_context, shot


@pytest.mark.parametrize("width", WIDTHS)
def test_login_then_logout(browser: Browser, live: Live, width: str) -> None:
    with open_context(browser, width) as (context, watch):
        page = watch.attach(context.new_page())
        page.goto(live.url + "/admin")
        expect(page).to_have_url(re.compile(r"/admin/login$"))
        shot(page, "login", width)
        page.fill("#app-key", "not-the-secret")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("Wrong admin secret")
        page.fill("#app-key", live.secret)
        page.click("#login-submit")
        expect(page).to_have_url(re.compile(r"/admin/account$"))
        cookie = next(c for c in context.cookies() if c["name"] == "grok2api_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
        if width == "phone":
            page.click("#nav-toggle")
        page.click("#logout")
        expect(page).to_have_url(re.compile(r"/admin/login$"))
        # the session is over on the server too: the old cookie opens nothing
        status, _ = _with_cookie(live, cookie["value"], "GET", "/admin/api/verify")
        assert status == 401
    # the wrong secret above was counted, the right one reset the count: no lockout now


def _with_cookie(live: Live, value: str, method: str, path: str,
                 headers: dict[str, str] | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request
    req = urllib.request.Request(live.url + path, method=method,
                                 data=b"{}" if method == "POST" else None)
    req.add_header("Cookie", f"grok2api_admin={value}")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_page_goes_back_where_it_was_headed(browser: Browser, live: Live) -> None:
    with open_context(browser, "desktop") as (context, watch):
        page = watch.attach(context.new_page())
        page.goto(live.url + "/admin/keys")
        expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/keys$"))
        page.fill("#app-key", live.secret)
        page.press("#app-key", "Enter")
        expect(page).to_have_url(re.compile(r"/admin/keys$"))


def test_state_changes_need_the_csrf_token(browser: Browser, live: Live) -> None:
    with open_context(browser, "desktop") as (context, _):
        login(context, live)
        cookie = next(c for c in context.cookies() if c["name"] == "grok2api_admin")["value"]
    status, body = _with_cookie(live, cookie, "POST", "/admin/api/sync")
    assert status == 403 and "csrf_failed" in body
    status, body = _with_cookie(live, cookie, "POST", "/admin/api/sync",
                                {"X-CSRF-Token": "forged"})
    assert status == 403
    status, _ = _with_cookie(live, cookie, "GET", "/admin/api/status")  # reads need none
    assert status == 200


def test_pages_carry_a_strict_policy(live: Live) -> None:
    import urllib.request
    with urllib.request.urlopen(live.url + "/admin/login") as answer:
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers.get("Access-Control-Allow-Origin") is None
        html = answer.read().decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html)


def test_an_api_key_never_opens_the_admin(tmp_path, browser: Browser) -> None:
    server = start_live(tmp_path / "keyed", tokens=0, env={"GROK_APP_API_KEY": "sk-client-key-123"})
    try:
        status, _ = server.call("POST", "/admin/api/login", {"app_key": "sk-client-key-123"},
                                secret="none")
        assert status == 401
        status, _ = server.call("GET", "/admin/api/verify", secret="sk-client-key-123")
        assert status == 401
    finally:
        server.stop()


def test_wrong_secrets_lock_the_address_out(tmp_path, browser: Browser) -> None:
    server = start_live(tmp_path / "lockout", tokens=0, env={
        "GROK_ADMIN_THROTTLE_FREE_FAILURES": "2", "GROK_ADMIN_THROTTLE_LOCKOUT_FAILURES": "3",
        "GROK_ADMIN_THROTTLE_LOCKOUT_SEC": "60"})
    try:
        with open_context(browser, "desktop") as (context, watch):
            page = watch.attach(context.new_page())
            page.goto(server.url + "/admin/login")
            page.fill("#app-key", "wrong-1")
            page.click("#login-submit")
            expect(page.locator("#login-error")).to_have_text("Wrong admin secret")
            page.fill("#app-key", "wrong-2")
            page.click("#login-submit")
            expect(page.locator("#login-error")).to_have_text("Wrong admin secret")
            page.fill("#app-key", "wrong-3")
            page.click("#login-submit")
            expect(page.locator("#login-error")).to_contain_text("Too many wrong admin secrets")
            # locked out: even the right secret is refused now
            page.fill("#app-key", server.secret)
            page.click("#login-submit")
            expect(page.locator("#login-error")).to_contain_text("Too many wrong admin secrets")
            expect(page).to_have_url(re.compile(r"/admin/login$"))
        log = (server.data_dir.parent / "gateway.log").read_text()
        assert "locked out" in log
    finally:
        server.stop()


@pytest.mark.parametrize("width", WIDTHS)
def test_first_run_makes_the_operator_choose_a_secret(tmp_path, browser: Browser,
                                                       width: str) -> None:
    server = start_live(tmp_path / "first-run", secret=None, tokens=2)
    try:
        with open_context(browser, width) as (context, watch):
            page = watch.attach(context.new_page())
            page.goto(server.url + "/admin/login")
            page.fill("#app-key", "grok2api")
            page.click("#login-submit")
            expect(page).to_have_url(re.compile(r"/admin/setup$"))
            expect(page.locator("#fact-accounts")).to_have_text("2")
            expect(page.locator("#fact-storage")).to_contain_text("local")
            shot(page, "setup", width)
            # every other page leads back here until a new secret is set
            page.goto(server.url + "/admin/account")
            expect(page).to_have_url(re.compile(r"/admin/setup$"))
            page.fill("#new-key", "short")
            page.click("#setup-submit")
            expect(page.locator("#setup-error")).to_contain_text("12 to 256")
            page.click("#generate")
            new_secret = page.input_value("#new-key")
            assert len(new_secret) == 32
            page.click("#setup-submit")
            expect(page).to_have_url(re.compile(r"/admin/account$"))
        status, _ = server.call("GET", "/admin/api/status", secret=new_secret)
        assert status == 200
        status, _ = server.call("GET", "/admin/api/setup", secret="grok2api")
        assert status == 401
    finally:
        server.stop()
