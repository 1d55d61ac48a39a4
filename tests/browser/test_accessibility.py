"""The admin passes axe-core (no serious or critical violations) and leaves a screenshot CI keeps."""

from __future__ import annotations

import pytest

from tests.browser.accessibility import SCREENSHOTS, check_page


@pytest.mark.django_db(transaction=True)
def test_the_admin_index_has_no_serious_accessibility_violations(staff_page):
    staff_page.goto("/admin/")

    check_page(staff_page, "admin-index")

    assert (SCREENSHOTS / "admin-index.png").stat().st_size > 0


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

    message = str(failure.value)
    assert "image-alt (critical)" in message and "#no-alt" in message
    assert "button-name (critical)" in message and "#empty" in message
