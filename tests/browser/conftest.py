"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, screenshots kept.

No browser is downloaded: Playwright drives /usr/bin/chromium (scripts/setup installs the
Debian package). Each test module here is marked `browser`: `pytest -m browser` runs only
them, `-m "not browser"` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import rtsp_media_dir, rtsp_server  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
"""The flags a closed network needs (no background connections) and root needs (no sandbox)."""
FRONTEND = Path(__file__).resolve().parents[2] / "custom_components" / "vigil" / "frontend"
ORIGIN = "http://vigil.test"
"""The panel's modules are served from its folder by Playwright's routing: no socket opens."""


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Return a headless Chromium (Debian's) under Playwright; closed after the test.

    One per test: Playwright's synchronous API keeps an event loop running, which Home
    Assistant's test plugin would find at each test's teardown if it were shared.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/setup installs the Debian package")
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it)")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only for these tests

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Iterator[Path]:
    """Return the folder the test saves its screenshots in (printed: CI keeps it)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    saved = sorted(p.name for p in folder.iterdir())
    print(f"\nscreenshots in {folder}: {', '.join(saved) or 'none'}")


@pytest.fixture
def modules(chromium: Any) -> Iterator[Any]:
    """Return a page on which the panel's modules import: `await import("/editing.js")`."""
    page = chromium.new_page()

    def serve(route: Any) -> None:
        name = route.request.url.removeprefix(f"{ORIGIN}/").split("?")[0]
        if name == "index.html":
            route.fulfill(body="<!doctype html><title>Vigil</title>", content_type="text/html")
        else:
            route.fulfill(path=str(FRONTEND / name), content_type="text/javascript")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/index.html")
    yield page
    page.close()
