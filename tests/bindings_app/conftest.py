from __future__ import annotations

import pytest

from bindings_app.models import ProviderBinding
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model

URL = "/api/v1/bindings"


@pytest.fixture
def llama(db, model_doc):
    """llama2-7b-chat 1.0.0, registered and current."""
    return activate(register(Model, model_doc()).version)


@pytest.fixture
def binding_body():
    def build(**overrides) -> dict:
        body = {
            "model": "llama2-7b-chat",
            "version": "1.0.0",
            "provider": "openai",
            "provider_model_id": "gpt-4o",
            "endpoint_url": "https://api.openai.com/v1",
            "region": "us-east-1",
            "environment": "production",
            "config": {"api_key_secret": "vault:kv/openai#key"},
            "cost_per_1k_input_tokens": 0.5,
            "cost_per_1k_output_tokens": 1.5,
            "slo_latency_p95_ms": 1500,
            "slo_success_rate": 0.99,
        }
        body.update(overrides)
        return body

    return build


@pytest.fixture
def make_binding(llama):
    """Create a binding through the model method: make_binding(provider="anthropic", region=..., ...)."""

    def build(version=None, **values) -> ProviderBinding:
        fields = {
            "provider": "openai",
            "provider_model_id": "gpt-4o",
            "endpoint_url": "https://api.example.com/v1",
            "region": "us-east-1",
            "environment": "production",
            "cost_per_1k_input_tokens": 1,
            "cost_per_1k_output_tokens": 1,
            "slo_latency_p95_ms": 1500,
            "slo_success_rate": 0.95,
        }
        fields.update(values)
        return ProviderBinding.deploy(version or llama, **fields)

    return build
