"""Binding CRUD through the real URLs: settings, constraints, secrets refused, enable / disable, filters."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from bindings_app.models import BindingStatusChange, ProviderBinding
from kernel.writes.register import register

from .conftest import URL

pytestmark = pytest.mark.django_db


def paths(response) -> list[str]:
    return [e.get("path") or e.get("parameter") for e in response.json()["errors"]]


def test_create_returns_the_binding_with_no_data_yet(api, llama, binding_body):
    response = api.post(URL, binding_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (
        body["model"] == "llama2-7b-chat" and body["version"] == "1.0.0" and body["model_version_id"] == str(llama.pk)
    )
    assert body["status"] == "active" and body["request_count"] == 0
    assert body["cost_per_1k_input_tokens"] == 0.5
    assert body["success_rate"] is None
    assert body["window"]["state"] == "no data" and body["window"]["latency_p95_ms"] is None


def test_create_can_start_pending_and_names_the_current_version(api, llama, binding_body):
    response = api.post(URL, binding_body(version="current", status="pending"), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending" and response.json()["version"] == "1.0.0"


def test_same_version_provider_region_environment_is_a_409(api, llama, binding_body):
    assert api.post(URL, binding_body(), format="json").status_code == 201

    again = api.post(URL, binding_body(provider_model_id="other"), format="json")
    other_region = api.post(URL, binding_body(region="eu-west-1"), format="json")

    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "binding_exists"
    assert other_region.status_code == 201
    assert ProviderBinding.objects.count() == 2


def test_database_enforces_unique_placement_and_non_negative_costs(make_binding):
    binding = make_binding()
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderBinding.objects.create(
            model_version=binding.model_version,
            provider="openai",
            provider_model_id="x",
            endpoint_url="https://x.example",
            region="us-east-1",
            environment="production",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderBinding.objects.filter(pk=binding.pk).update(cost_per_1k_output_tokens=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderBinding.objects.filter(pk=binding.pk).update(endpoint_url="ftp://files.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderBinding.objects.filter(pk=binding.pk).update(status="broken")


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"cost_per_1k_input_tokens": -0.01}, "/cost_per_1k_input_tokens"),
        ({"endpoint_url": "ftp://models.example/v1"}, "/endpoint_url"),
        ({"endpoint_url": "javascript:alert(1)"}, "/endpoint_url"),
        ({"provider": "openia"}, "/provider"),
        ({"environment": "prod"}, "/environment"),
        ({"status": "degraded"}, "/status"),
        ({"region": "EU West"}, "/region"),
        ({"weight": 1001}, "/weight"),
        ({"slo_success_rate": 1.5}, "/slo_success_rate"),
        ({"model": "no-such-model"}, "/model"),
        ({"version": "9.9.9"}, "/version"),
        ({"colour": "blue"}, "/colour"),
    ],
)
def test_invalid_fields_are_a_400_naming_the_field_and_store_nothing(api, llama, binding_body, overrides, path):
    response = api.post(URL, binding_body(**overrides), format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["type"] == "validation_error"
    assert path in paths(response)
    assert not ProviderBinding.objects.exists()


@pytest.mark.parametrize(
    "config, path",
    [
        ({"api_key": "abc"}, "/config/api_key"),
        ({"organization": "sk-proj-abcdefghijklmnop1234"}, "/config/organization"),
        ({"headers": {"Authorization": "Bearer abc"}}, "/config/headers/Authorization"),
        ({"headers": {"X-Trace": "Bearer abcdefghijklmnop"}}, "/config/headers/X-Trace"),
        ({"api_key_secret": "sk-live-abcdefghijklmnopqrstu"}, "/config/api_key_secret"),
        ({"capabilities": ["chat", "AKIAABCDEFGHIJKLMNOP"]}, "/config/capabilities/1"),
        ({"access_token": "x"}, "/config/access_token"),
    ],
)
def test_a_config_holding_a_credential_is_refused_with_its_path(api, llama, binding_body, config, path):
    response = api.post(URL, binding_body(config=config), format="json")

    assert response.status_code == 400, response.json()
    assert path in paths(response)
    assert {e["code"] for e in response.json()["errors"]} & {"secret_in_config", "secret_reference_required"}
    assert not ProviderBinding.objects.exists()


def test_secret_references_and_token_limits_are_fine(api, llama, binding_body):
    config = {"api_key_secret": "vault:kv/openai#key", "max_tokens": 4096, "headers": {"X-Team": "ml"}}
    response = api.post(URL, binding_body(config=config), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["config"] == config


def test_config_follows_the_providers_schema(api, llama, binding_body):
    response = api.post(
        URL, binding_body(provider="azure_openai", config={"deployment_name": "gpt4o", "shards": 3}), format="json"
    )

    assert response.status_code == 400
    assert set(paths(response)) == {"/config/api_version", "/config/shards"}


def test_patch_changes_settings_but_not_status_or_version(api, make_binding):
    binding = make_binding()
    url = f"{URL}/{binding.pk}"

    changed = api.patch(url, {"weight": 250, "cost_per_1k_output_tokens": "2.25"}, format="json")
    status_change = api.patch(url, {"status": "disabled"}, format="json")
    version_change = api.patch(url, {"version": "2.0.0"}, format="json")
    secret = api.patch(url, {"config": {"token": "abc"}}, format="json")

    assert (
        changed.status_code == 200
        and changed.json()["weight"] == 250
        and changed.json()["cost_per_1k_output_tokens"] == 2.25
    )
    assert status_change.status_code == 400 and paths(status_change) == ["/status"]
    assert version_change.status_code == 400 and paths(version_change) == ["/version"]
    assert secret.status_code == 400 and paths(secret) == ["/config/token"]
    binding.refresh_from_db()
    assert binding.status == "active" and binding.config == {}


def test_a_document_as_get_returned_it_can_be_put_back(api, make_binding):
    binding = make_binding()
    body = api.get(f"{URL}/{binding.pk}").json()

    response = api.put(f"{URL}/{binding.pk}", body, format="json")

    assert response.status_code == 200, response.json()


def test_enable_and_disable_move_the_status_and_record_why(api, make_binding):
    binding = make_binding(status="pending")

    disabled = api.post(f"{URL}/{binding.pk}/disable")
    enabled = api.post(f"{URL}/{binding.pk}/enable")

    assert disabled.json()["status"] == "disabled" and enabled.json()["status"] == "active"
    moves = list(
        BindingStatusChange.objects.filter(binding=binding)
        .order_by("at", "id")
        .values_list("from_status", "to_status", "reason")
    )
    assert moves == [("pending", "disabled", "disabled"), ("disabled", "active", "enabled")]


def test_only_a_disabled_binding_can_be_deleted(api, make_binding):
    binding = make_binding()

    refused = api.delete(f"{URL}/{binding.pk}")
    api.post(f"{URL}/{binding.pk}/disable")
    deleted = api.delete(f"{URL}/{binding.pk}")

    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "in_service"
    assert deleted.status_code == 204
    assert not ProviderBinding.objects.exists()


def test_read_only_key_cannot_create_or_report(readonly_api, make_binding, binding_body):
    binding = make_binding()

    assert readonly_api.post(URL, binding_body(region="eu-west-1"), format="json").status_code == 403
    assert readonly_api.post(f"{URL}/{binding.pk}/report", {"success": True}, format="json").status_code == 403
    assert readonly_api.get(URL).status_code == 200


def test_unknown_binding_is_a_404_in_the_error_shape(api, db):
    response = api.get(f"{URL}/999999")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_filters_select_bindings(api, make_binding, model_doc):
    from models_app.models import Model

    other = register(Model, model_doc(name="mistral-7b")).version
    openai = make_binding(cost_per_1k_input_tokens=0.2, cost_per_1k_output_tokens=0.4)
    bedrock = make_binding(provider="bedrock", region="eu-west-1", environment="staging", status="pending")
    anthropic = make_binding(
        version=other, provider="anthropic", cost_per_1k_input_tokens=3, cost_per_1k_output_tokens=15
    )
    ProviderBinding.objects.filter(pk=openai.pk).update(request_count=100, success_count=99)
    ProviderBinding.objects.filter(pk=anthropic.pk).update(request_count=100, success_count=90)

    def ids(query: str) -> list[int]:
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return [b["id"] for b in response.json()["results"]]

    assert ids("model=llama2-7b-chat") == [openai.pk, bedrock.pk]
    assert ids("model=llama2-7b-chat&version=1.0.0") == [openai.pk, bedrock.pk]
    assert ids("version=2.0.0") == []
    assert ids("provider=anthropic") == [anthropic.pk]
    assert ids("status=pending") == [bedrock.pk]
    assert ids("environment=staging") == [bedrock.pk]
    assert ids("region=eu-west-1") == [bedrock.pk]
    assert ids("min_success_rate=0.95") == [openai.pk]
    assert ids("min_success_rate=0.5") == [openai.pk, anthropic.pk]
    assert ids("max_cost=1") == [openai.pk, bedrock.pk]
    assert ids("max_cost=0.3") == [openai.pk]
    # A bound of any precision is compared exactly, not refused for its number of digits.
    assert ids("max_cost=0.2999999") == []
    assert ids("max_cost=0.3000001") == [openai.pk]
    assert ids("min_success_rate=0.98999999") == [openai.pk]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("status=gone", "status"),
        ("provider=x", "provider"),
        ("min_success_rate=2", "min_success_rate"),
        ("max_cost=-1", "max_cost"),
        ("max_cost=abc", "max_cost"),
        ("version=1.x", "version"),
        ("region=EU", "region"),
        ("limit=1000", "limit"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, db, query, parameter):
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == parameter


def test_list_runs_a_bounded_number_of_queries(api, make_binding, django_assert_max_num_queries):
    for region in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"):
        make_binding(region=region)
    api.get(URL)  # warm the key's user cache and the content types

    with django_assert_max_num_queries(5):
        response = api.get(f"{URL}?limit=100")

    assert len(response.json()["results"]) == 5


def test_a_versions_bindings(api, make_binding):
    first = make_binding()
    make_binding(provider="bedrock")

    response = api.get("/api/v1/models/llama2-7b-chat/versions/current/bindings?provider=openai")
    missing = api.get("/api/v1/models/llama2-7b-chat/versions/3.0.0/bindings")

    assert response.status_code == 200
    assert [b["id"] for b in response.json()["results"]] == [first.pk]
    assert missing.status_code == 404


def test_load_examples_binds_llama2_in_production_and_staging_once(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("load_examples", stdout=StringIO())
    call_command("load_examples", stdout=StringIO())

    placements = set(
        ProviderBinding.objects.filter(model_version__model__name="llama2-7b-chat").values_list(
            "provider", "environment", "status"
        )
    )
    assert placements == {("openai", "production", "active"), ("self_hosted", "staging", "active")}
