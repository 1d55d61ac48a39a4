"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium) against pytest-django's
``live_server``. Never ``playwright install``: it downloads browsers, which cannot happen here.

Fixtures for every capability's browser tests:
- ``browser``: one headless Chromium for the session.
- ``staff_page``: a fresh Page logged into the admin on ``live_server`` as a superuser (``staff_page.user``,
  ``staff_page.base_url``).

Without Chromium the tests are skipped with the reason, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to run beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
MISSING_REASON = None if CHROMIUM.exists() else f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
STAFF_PASSWORD = "browser-test-password-123"


def pytest_collection_modifyitems(config, items):
    if MISSING_REASON is None or os.environ.get("CI"):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=f"browser test: {MISSING_REASON}"))


@pytest.fixture(scope="session")
def browser():
    if MISSING_REASON:
        pytest.fail(f"CI runs the browser tests: {MISSING_REASON}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def staff_page(browser, live_server, django_user_model):
    user = django_user_model.objects.create_superuser(username="curator", email="", password=STAFF_PASSWORD)
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "/admin/login/" not in page.url, "the admin login failed"
    page.user = user
    page.base_url = live_server.url
    yield page
    context.close()
