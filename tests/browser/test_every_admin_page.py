"""Every page of the admin passes axe-core (no serious or critical violation) and leaves a screenshot: each
registered model's list, one object's change page and its add page, on a registry holding the examples. The pages
a curator works in are also tested for what they do (test_console.py, test_console_pages.py); this walk is the
floor for the rest (users, groups, API keys, webhooks, the change log, login lockouts)."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from kernel.models.webhooks import WebhookSubscription
from tests.browser.accessibility import check_page

pytestmark = pytest.mark.django_db(transaction=True)


def admin_pages(request_user) -> list[tuple[str, str]]:
    """(screenshot name, path) of every model's list, its first object's page and its add page."""
    pages = [("admin-index", reverse("admin:index"))]
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}-{model._meta.model_name}".replace("_", "-")
        info = (model._meta.app_label, model._meta.model_name)
        pages.append((f"{label}-list", reverse("admin:{}_{}_changelist".format(*info))))
        first = model_admin.get_queryset(type("R", (), {"user": request_user})()).order_by("pk").first()
        if first is not None:
            pages.append((f"{label}-change", reverse("admin:{}_{}_change".format(*info), args=[first.pk])))
        try:
            pages.append((f"{label}-add", reverse("admin:{}_{}_add".format(*info))))
        except NoReverseMatch:
            pass
    return pages


def test_every_admin_page_has_no_serious_accessibility_violation(staff_page):
    call_command("load_examples", stdout=io.StringIO())
    call_command("load_lineage_examples", stdout=io.StringIO())
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["*"])

    checked = []
    for name, path in admin_pages(staff_page.user):
        response = staff_page.goto(path)
        if response.status == 403:  # an add page the admin refuses (versions are registered, not added)
            continue
        assert response.status == 200, f"{path}: {response.status}"
        check_page(staff_page, name)
        checked.append(path)

    assert len(checked) >= 2 * len(admin.site._registry)  # every list and most objects' pages were walked
