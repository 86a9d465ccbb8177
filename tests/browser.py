"""What the browser tests share: Debian's chromium driven by Playwright, with every
JavaScript error and Content-Security-Policy refusal failing the test, and screenshots saved
under test-artifacts/. The fixture `browser_page` reaches every test through conftest.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls made there by
# the test itself are plain synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: apt-get install chromium (CI's .ci/run does)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Anything the Content-Security-Policy refuses is an error too (Chromium logs it as
        # "Refused to ..." or "... violates the following Content Security Policy ...").
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if "Refused to" in msg.text or "Content Security Policy" in msg.text
                else None
            ),
        )
        try:
            yield page
        finally:
            # A database connection a test opened beside Playwright's event loop is one the
            # test database's teardown cannot see ("being accessed by other users" on
            # PostgreSQL): close it while the loop still runs.
            from django.db import connection

            connection.close()
        assert errors == [], f"JavaScript errors or CSP violations in the pages: {errors}"
        browser.close()


def sign_in(page, base: str, username: str, password: str = "demo") -> None:
    """Sign in through the sign-in page and wait for the home page."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")
