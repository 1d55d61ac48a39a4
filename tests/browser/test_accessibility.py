"""check_page itself: it fails on serious or critical axe-core violations, naming each and its elements, and leaves a
screenshot CI keeps. The admin's pages are checked where they are tested (tests/browser/test_console.py: the
landing page, which is the admin index, search and compare)."""

from __future__ import annotations

import pytest

from tests.browser.accessibility import SCREENSHOTS, check_page


def test_check_page_fails_naming_each_serious_violation_and_its_element(browser):
    page = browser.new_page()
    try:
        page.set_content(
            '<html lang="en"><head><title>broken</title></head><body><main>'
            '<img id="no-alt" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button id="empty"></button>'
            "</main></body></html>"
        )
        with pytest.raises(pytest.fail.Exception) as failure:
            check_page(page, "accessibility-self-check")
    finally:
        page.close()
    assert (SCREENSHOTS / "accessibility-self-check.png").stat().st_size > 0

    message = str(failure.value)
    assert "image-alt (critical)" in message and "#no-alt" in message
    assert "button-name (critical)" in message and "#empty" in message
