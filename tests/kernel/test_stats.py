"""The statistics snapshot: what it holds, how /api/v1/stats and /metrics serve it, and its query bound."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from kernel import stats
from kernel.writes.lifecycle import archive
from kernel.writes.register import register
from models_app.models import Model
from policies_app.models import Policy
from tests.conftest import _client_for, example

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(db):
    return _client_for(
        get_user_model().objects.create_user(username="ops", password="unused-password-123", is_staff=True)
    )


def test_the_snapshot_summarises_every_app(model_doc):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(name="a", version=version, family="llama"))
    archive(register(Model, model_doc(name="b", family="mistral")).version)
    register(Policy, example("policies_app", "user-rate-limits"))

    data = stats.refresh().data

    assert data["models"]["by_family"] == {"llama": 1, "mistral": 1}
    assert data["models"]["versions_by_status"] == {"active": 2, "archived": 1}
    assert data["models"]["versions_by_tier"] == {"hot": 2, "cold": 1}
    assert data["models"]["artifact_bytes_by_tier"] == {"hot": 2 * 13483847680, "cold": 13483847680}
    assert data["pipelines"]["total"] == 0
    assert data["policies"]["by_type"] == {"rate_limit": 1}


def test_the_refresh_takes_a_few_queries_whatever_the_registry_holds(model_doc, django_assert_max_num_queries):
    for index in range(30):
        register(Model, model_doc(name=f"m{index}", family=f"f{index % 3}"))

    # Bindings add two aggregate queries and stored artifacts one; retention's outlook its candidate count (three
    # counts on SQLite), its purge count and one query per guard, and on PostgreSQL its transaction with JIT off
    # (here a savepoint, SET LOCAL and its release; in production SET LOCAL only).
    with django_assert_max_num_queries(27):
        stats.refresh()


def test_stats_endpoint_serves_the_stored_snapshot_until_refreshed(api, staff_api, model_doc):
    register(Model, model_doc(name="a"))
    first = api.get("/api/v1/stats").json()
    assert first["models"]["total"] == 1 and "refreshed_at" in first

    register(Model, model_doc(name="b"))
    assert api.get("/api/v1/stats").json()["models"]["total"] == 1

    denied = api.get("/api/v1/stats?refresh=true")
    assert denied.status_code == 403
    fresh = staff_api.get("/api/v1/stats?refresh=true").json()
    assert fresh["models"]["total"] == 2 and fresh["refreshed_at"] > first["refreshed_at"]
    assert api.get("/api/v1/stats").json()["models"]["total"] == 2


@pytest.mark.parametrize(("query", "parameter"), [("refresh=maybe", "refresh"), ("refersh=true", "refersh")])
def test_stats_endpoint_rejects_bad_parameters(api, query, parameter):
    response = api.get(f"/api/v1/stats?{query}")
    assert response.status_code == 400 and response.json()["errors"][0]["parameter"] == parameter


def test_stats_need_credentials(anon):
    assert anon.get("/api/v1/stats").status_code == 401


def test_metrics_gauges_come_from_the_snapshot(anon, model_doc):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        register(Model, model_doc(name="a", version=version, family="llama"))
    Model.objects.apply_retention(keep=1)
    stats.refresh()

    text = anon.get("/metrics").content.decode()

    assert 'registry_models_total{family="llama"} 1.0' in text
    assert 'registry_model_versions_total{status="archived"} 2.0' in text
    assert "registry_retention_archived_total 2.0" in text
    assert "registry_retention_purged_total 0.0" in text
    assert "registry_pipelines_total 0.0" in text


def test_the_snapshot_and_metrics_count_bindings_by_provider_and_status_and_stored_bytes_by_tier(
    anon, api, model_doc, settings, tmp_path
):
    from bindings_app.models import ProviderBinding

    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    settings.BINDING_SLO_MIN_SAMPLES = 2
    version = register(Model, model_doc(name="a")).version
    placement = dict(
        provider_model_id="m",
        endpoint_url="https://api.example.com/v1",
        cost_per_1k_input_tokens=1,
        cost_per_1k_output_tokens=1,
    )
    openai = ProviderBinding.deploy(
        version, provider="openai", region="us-east-1", environment="production", **placement
    )
    ProviderBinding.deploy(
        version, provider="openai", region="eu-west-1", environment="production", **placement
    ).disable()
    ProviderBinding.deploy(version, provider="self_hosted", region="eu-west-1", environment="staging", **placement)
    # Only openai's has enough samples: 3 of 4 succeeded.
    ProviderBinding.objects.filter(pk=openai.pk).update(request_count=4, success_count=3)
    upload = api.put(
        "/api/v1/models/a/versions/1.0.0/artifacts/weights.bin",
        data=b"x" * 1000,
        content_type="application/octet-stream",
    )
    assert upload.status_code in (200, 201), upload.content

    data = stats.refresh().data

    assert data["bindings"]["by_provider_status"] == {
        "openai": {"active": 1, "disabled": 1},
        "self_hosted": {"active": 1},
    }
    assert data["bindings"]["total"] == 3
    assert data["bindings"]["average_success_rate"] == 0.75
    assert data["models"]["stored_artifact_bytes_by_tier"] == {"filesystem": 1000}
    assert data["models"]["stored_artifact_files_by_tier"] == {"filesystem": 1}
    text = anon.get("/metrics").content.decode()
    assert 'registry_bindings_total{provider="openai",status="disabled"} 1.0' in text
    assert 'registry_bindings_total{provider="self_hosted",status="active"} 1.0' in text
    assert 'registry_artifact_bytes{tier="filesystem"} 1000.0' in text


def test_with_too_few_samples_the_average_success_rate_is_no_data(model_doc):
    from bindings_app.models import ProviderBinding

    version = register(Model, model_doc(name="a")).version
    ProviderBinding.deploy(
        version,
        provider="openai",
        provider_model_id="m",
        endpoint_url="https://api.example.com/v1",
        region="us-east-1",
        environment="production",
    )

    assert stats.refresh().data["bindings"]["average_success_rate"] is None


def test_a_declared_size_written_as_a_whole_float_is_counted(model_doc):
    """JSON Schema's integer includes 119.0; a document declaring its artifact's size that way registers, and the
    snapshot counts it (a bigint cast of the text '119.0' failed: GET /stats?refresh=true answered 500)."""
    doc = model_doc(name="floaty")
    doc["artifact"] = {**doc["artifact"], "size_bytes": 119.0}
    register(Model, doc)

    assert stats.refresh().data["models"]["artifact_bytes_by_tier"] == {"hot": 119}
