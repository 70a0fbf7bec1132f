"""Browser tests: Playwright driving the system's Chromium (launched by its path, so nothing
is downloaded) against a real gateway and simulator on loopback (`tests/browser/live.py`).

Every page runs with the browser's outbound traffic pointed at a dead port, and each test
fails if a page fetched anything off loopback, logged an error to the console (a CSP
violation is one) or threw. Screenshots go to `tests/artefacts/screens/` (or
`$GROK2API_TEST_ARTEFACTS/screens`). Without Chromium or the `playwright` package the
module is skipped (`.ci/run` installs Chromium).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.browser.live import Live, start_live

try:
    from playwright.sync_api import Browser, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None


def _chromium() -> str | None:
    return (os.environ.get("GROK2API_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = ("playwright is not installed" if sync_playwright is None
              else None if _chromium() else "no Chromium found (apt-get install chromium)")
    if reason:
        for item in items:
            if "tests/browser/" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # one per module, not per session: while it is open, Playwright's sync API keeps an
    # event loop of its own running, which the asyncio tests collected after it cannot share
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=_chromium(),
            # everything off loopback goes to a dead port: a page that needs the internet fails
            args=["--no-sandbox", "--proxy-server=http://127.0.0.1:9",
                  "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A gateway with its admin secret set and six super accounts, shared by a module."""
    server = start_live(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()
