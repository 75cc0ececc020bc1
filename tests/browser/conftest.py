"""Browser fixtures: the system's headless Chromium, driven by Playwright's sync API.

No browser is ever downloaded: Playwright launches the Chromium installed at
/usr/bin/chromium (or $SMSGATEWAY_CHROMIUM).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Playwright's sync API runs an event loop in the test's thread, which makes Django
# refuse synchronous ORM calls there unless told that this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("SMSGATEWAY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "s3cret-pass!"  # the `user` fixture's


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `python3 dev.py test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server, transactional_db) -> Iterator[Page]:
    """A fresh browser tab on the live server.

    A script error, or anything the Content-Security-Policy blocks, fails the test.
    """
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors or CSP violations: {errors}"


@pytest.fixture
def logged_in(page: Page, user) -> Page:
    """The tab, logged in as the marketer through the login form."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="SMS", exact=True)).to_be_visible()
    return page
