"""The curator's view of bindings, through Django's test client."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bindings_app.models import ProviderBinding
from bindings_app.validation import parse_outcomes

pytestmark = pytest.mark.django_db

LIST = "/admin/bindings_app/providerbinding/"


@pytest.fixture
def curator() -> Client:
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("curator", "curator@example.com", "curator-password-1")
    )
    return client


def test_the_list_shows_health_per_binding(curator, make_binding):
    slow = make_binding(slo_latency_p95_ms=1500)
    slow.report(parse_outcomes([{"success": True, "latency_ms": 2300}] * 25))
    make_binding(provider="anthropic")

    page = curator.get(LIST).content.decode()

    assert "degraded</strong> · success 100.0 %, p95 2" in page and "/ SLO 1500 ms" in page
    assert "active</strong> · no data (0 of 20 samples) · last report never" in page


def test_the_binding_page_shows_the_degraded_and_recovered_moves(curator, make_binding):
    binding = make_binding(slo_latency_p95_ms=1500)
    binding.report(parse_outcomes([{"success": True, "latency_ms": 2300}] * 25))
    binding.report(parse_outcomes([{"success": True, "latency_ms": 100}] * 600))

    page = curator.get(f"{LIST}{binding.pk}/change/").content.decode()

    assert "Status history" in page
    assert "&gt; SLO 1500 ms over 15 min" in page and "within SLO over 15 min" in page


def test_enable_and_disable_actions(curator, make_binding):
    binding = make_binding()

    curator.post(LIST, {"action": "disable", "_selected_action": [binding.pk]})
    binding.refresh_from_db()
    assert binding.status == "disabled"
    curator.post(LIST, {"action": "enable", "_selected_action": [binding.pk]})
    binding.refresh_from_db()
    assert binding.status == "active"


def test_the_add_form_refuses_a_credential_beside_the_config_field(curator, llama):
    response = curator.post(
        f"{LIST}add/",
        {
            "model_version": str(llama.pk),
            "provider": "openai",
            "provider_model_id": "gpt-4o",
            "endpoint_url": "https://api.openai.com/v1",
            "region": "us-east-1",
            "environment": "production",
            "weight": 100,
            "config": '{"api_key": "sk-abcdefghijklmnopqrstuvwx"}',
            "cost_per_1k_input_tokens": "0.5",
            "cost_per_1k_output_tokens": "1",
        },
    )

    assert response.status_code == 200
    assert "secrets are never stored" in response.content.decode()
    assert not ProviderBinding.objects.exists()


def test_the_add_form_creates_a_binding(curator, llama):
    response = curator.post(
        f"{LIST}add/",
        {
            "model_version": str(llama.pk),
            "provider": "openai",
            "provider_model_id": "gpt-4o",
            "endpoint_url": "https://api.openai.com/v1",
            "region": "us-east-1",
            "environment": "production",
            "weight": 100,
            "config": '{"api_key_secret": "vault:kv/openai#key"}',
            "cost_per_1k_input_tokens": "0.5",
            "cost_per_1k_output_tokens": "1",
        },
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert ProviderBinding.objects.get().status == "active"


def test_the_model_version_page_lists_its_bindings_inline(curator, make_binding, llama):
    make_binding(provider="anthropic", region="eu-west-1")

    page = curator.get(f"/admin/models_app/modelversion/{llama.pk}/change/").content.decode()

    assert "Provider bindings" in page and "eu-west-1" in page and "anthropic" in page
