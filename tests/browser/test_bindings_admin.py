"""The bindings list in a real browser: health column, then disable and enable through the action menu."""

from __future__ import annotations

import pytest

from bindings_app.models import ProviderBinding
from bindings_app.validation import parse_outcomes
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model

pytestmark = pytest.mark.django_db(transaction=True)


def test_bindings_list_shows_health_and_disables_then_enables(staff_page, live_server, model_doc):
    version = activate(register(Model, model_doc()).version)
    binding = ProviderBinding.deploy(
        version,
        provider="openai",
        provider_model_id="gpt-4o",
        endpoint_url="https://api.openai.com/v1",
        region="us-east-1",
        environment="production",
        slo_latency_p95_ms=1500,
    )
    binding.report(parse_outcomes([{"success": True, "latency_ms": 300}] * 30))
    page = staff_page

    page.goto(f"{live_server.url}/admin/bindings_app/providerbinding/")
    health = page.locator("td.field-health").first
    assert "active" in health.inner_text() and "success 100.0 %" in health.inner_text()

    for action, expected in (("disable", "disabled"), ("enable", "active")):
        page.locator(f"input.action-select[value='{binding.pk}']").check()
        page.select_option("select[name=action]", action)
        page.click("button[name=index]")
        page.wait_for_selector("ul.messagelist")
        assert f"{action}d 1 binding(s)." in page.locator("ul.messagelist").inner_text().lower()
        assert expected in page.locator("td.field-health").first.inner_text()
        binding.refresh_from_db()
        assert binding.status == expected
