"""Done when (issue #28): MLflow's client, unchanged, drives this registry through MLflow's Model Registry API, and
what it writes is the same model that /api/v1, the change log and the webhooks see, both ways."""

from __future__ import annotations

import json
import urllib.request

import pytest

from kernel.models.changelog import ChangeLogEntry
from tests.mlflow_compat.conftest import v1_document

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    # Stages are deprecated in MLflow's client; older clients still call them, so they are served and tested.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]


def v1(base: str, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_model_and_its_versions_round_trip_through_mlflows_client(client):
    created = client.create_registered_model("fraud", tags={"team": "risk"}, description="scores payments")
    assert created.name == "fraud"
    assert created.tags == {"team": "risk"}

    first = client.create_model_version("fraud", "s3://ml-models/fraud/1", run_id="run-1", tags={"stage": "dev"})
    second = client.create_model_version("fraud", "s3://ml-models/fraud/2", description="retrained")
    assert (first.version, second.version) == ("1", "2")
    assert first.status == "READY"
    assert first.source == "s3://ml-models/fraud/1" and first.run_id == "run-1"
    assert first.tags == {"stage": "dev", "registry.semver": "1.0.0"}
    assert second.tags["registry.semver"] == "2.0.0"

    fetched = client.get_model_version("fraud", "2")
    assert fetched.description == "retrained"
    model = client.get_registered_model("fraud")
    assert model.description == "scores payments"
    assert [v.version for v in model.latest_versions] == ["2"]  # the latest in stage None

    client.update_registered_model("fraud", description="scores card payments")
    client.update_model_version("fraud", "1", description="the baseline")
    assert client.get_registered_model("fraud").description == "scores card payments"
    assert client.get_model_version("fraud", "1").description == "the baseline"


def test_tags_are_set_and_deleted_on_models_and_versions(client):
    client.create_registered_model("tagged")
    client.create_model_version("tagged", "s3://b/tagged/1")
    client.set_registered_model_tag("tagged", "owner", "data-science")
    client.set_model_version_tag("tagged", "1", "validation_status", "Approved by QA")
    assert client.get_registered_model("tagged").tags == {"owner": "data-science"}
    assert client.get_model_version("tagged", "1").tags["validation_status"] == "Approved by QA"

    client.delete_registered_model_tag("tagged", "owner")
    client.delete_model_version_tag("tagged", "1", "validation_status")
    assert client.get_registered_model("tagged").tags == {}
    assert client.get_model_version("tagged", "1").tags == {"registry.semver": "1.0.0"}


def test_aliases_resolve_including_models_uris(client):
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    client.create_registered_model("aliased")
    client.create_model_version("aliased", "s3://b/aliased/1")
    client.create_model_version("aliased", "s3://b/aliased/2")
    client.set_registered_model_alias("aliased", "champion", "1")
    assert client.get_model_version_by_alias("aliased", "champion").version == "1"
    assert client.get_model_version("aliased", "1").aliases == ["champion"]
    assert client.get_registered_model("aliased").aliases == {"champion": "1"}

    client.set_registered_model_alias("aliased", "champion", "2")
    assert ModelsArtifactRepository.get_underlying_uri("models:/aliased@champion") == "s3://b/aliased/2"
    assert ModelsArtifactRepository.get_underlying_uri("models:/aliased/1") == "s3://b/aliased/1"

    client.delete_registered_model_alias("aliased", "champion")
    from mlflow.exceptions import RestException

    with pytest.raises(RestException) as missing:
        client.get_model_version_by_alias("aliased", "champion")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_takes_each_filter_form_and_pages(client):
    for name, team in (("alpha-chat", "nlp"), ("alpha-vision", "cv"), ("beta-chat", "nlp"), ("gamma", "ops")):
        client.create_registered_model(name, tags={"team": team})
    names = lambda found: [m.name for m in found]  # noqa: E731

    assert names(client.search_registered_models("name = 'gamma'")) == ["gamma"]
    assert names(client.search_registered_models("name LIKE 'alpha-%'")) == ["alpha-chat", "alpha-vision"]
    assert names(client.search_registered_models("name ILIKE '%CHAT'")) == ["alpha-chat", "beta-chat"]
    assert names(client.search_registered_models("tags.team = 'nlp'")) == ["alpha-chat", "beta-chat"]
    assert names(client.search_registered_models("tags.team != 'nlp'")) == ["alpha-vision", "gamma"]
    assert names(client.search_registered_models("tags.team ILIKE 'O%'")) == ["gamma"]
    assert names(client.search_registered_models("name LIKE '%chat' AND tags.team = 'nlp'")) == [
        "alpha-chat",
        "beta-chat",
    ]
    assert names(client.search_registered_models(order_by=["name DESC"]))[:2] == ["gamma", "beta-chat"]

    first = client.search_registered_models(max_results=3)
    assert names(first) == ["alpha-chat", "alpha-vision", "beta-chat"] and first.token
    rest = client.search_registered_models(max_results=3, page_token=first.token)
    assert names(rest) == ["gamma"] and not rest.token

    for number in range(3):
        client.create_model_version("gamma", f"s3://b/gamma/{number}", run_id=f"run-{number % 2}")
    versions = client.search_model_versions("name = 'gamma' AND run_id = 'run-0'")
    assert sorted(v.version for v in versions) == ["1", "3"]
    paged = client.search_model_versions("name = 'gamma'", max_results=2)
    assert len(paged) == 2 and paged.token


def test_errors_have_mlflows_shape(client, mlflow_env, monkeypatch):
    from mlflow.exceptions import RestException

    with pytest.raises(RestException) as missing:
        client.get_registered_model("nothing-here")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.create_registered_model("twice")
    with pytest.raises(RestException) as twice:
        client.create_registered_model("twice")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with pytest.raises(RestException) as bad:
        client.search_registered_models("owner = 'me'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "not-a-key")
    with pytest.raises(RestException) as refused:
        client.get_registered_model("twice")
    assert refused.value.error_code == "UNAUTHENTICATED"


def test_a_read_only_key_reads_but_does_not_write(client, writer, monkeypatch):
    from mlflow.exceptions import RestException

    from kernel.models import ApiKey

    client.create_registered_model("guarded")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", ApiKey.objects.issue(writer, read_only=True)[1])
    assert client.get_registered_model("guarded").name == "guarded"
    with pytest.raises(RestException) as refused:
        client.create_model_version("guarded", "s3://b/guarded/1")
    assert refused.value.error_code == "PERMISSION_DENIED"


def test_a_model_registered_through_api_v1_is_an_mlflow_model(client, registry_url, api_key):
    status, _ = v1(registry_url, api_key, "POST", "/api/v1/models", v1_document("llama-chat"))
    assert status == 201
    status, _ = v1(
        registry_url,
        api_key,
        "POST",
        "/api/v1/models/llama-chat/versions",
        {**v1_document("llama-chat", "1.1.0"), "name": "llama-chat"},
    )
    assert status == 201
    v1(registry_url, api_key, "POST", "/api/v1/models/llama-chat/versions/1.0.0/activate")

    versions = {v.version: v for v in client.search_model_versions("name = 'llama-chat'")}
    assert {n: v.tags["registry.semver"] for n, v in versions.items()} == {"1": "1.0.0", "2": "1.1.0"}
    assert versions["1"].current_stage == "Production"
    assert versions["1"].source == "s3://models/llama-chat/1.0.0"
    assert [m.name for m in client.search_registered_models("name = 'llama-chat'")] == ["llama-chat"]

    # And an MLflow version of it continues the semver above the highest major.
    created = client.create_model_version("llama-chat", "s3://b/llama-chat/next")
    assert (created.version, created.tags["registry.semver"]) == ("3", "2.0.0")


def test_a_version_created_through_mlflow_is_in_api_v1_the_change_log_and_the_webhooks(client, registry_url, api_key):
    from kernel.models.webhooks import OutboxItem, WebhookDelivery, WebhookSubscription

    # Loopback, never sent to: no worker runs here; the delivery waiting in the outbox is what is checked.
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["model.*"])
    client.create_registered_model("from-mlflow")
    client.create_model_version(
        "from-mlflow", "s3://ml/from-mlflow/1", run_id="abc", tags={"k": "v"}, description="made by MLflow"
    )
    client.set_registered_model_alias("from-mlflow", "champion", "1")
    client.transition_model_version_stage("from-mlflow", "1", "Production")

    status, document = v1(registry_url, api_key, "GET", "/api/v1/models/from-mlflow/versions/1.0.0")
    assert status == 200, document
    assert document["description"] == "made by MLflow"
    assert document["metadata"] == {"mlflow_tags": {"k": "v"}}
    assert document["mlflow"] == {"source": "s3://ml/from-mlflow/1", "run_id": "abc"}
    assert document["artifact"] == {"bucket": "ml", "path": "from-mlflow/1", "format": "mlflow"}
    assert document["aliases"] == ["champion"] and document["is_current"] is True

    actions = list(ChangeLogEntry.objects.filter(name="from-mlflow").order_by("id").values_list("action", flat=True))
    assert actions == ["model.created", "model.version_registered", "alias.moved", "model.version_activated"]
    registered = ChangeLogEntry.objects.get(name="from-mlflow", action="model.version_registered")
    queued = (
        OutboxItem.objects.filter(entry=registered).exists()
        or WebhookDelivery.objects.filter(entry=registered).exists()
    )
    assert queued, "the registration is not on its way to the webhook subscription"
    assert all(
        actor.startswith("api-key:")
        for actor in ChangeLogEntry.objects.filter(name="from-mlflow").values_list("actor", flat=True)
    )


def test_transition_stage_maps_onto_the_lifecycle_and_the_staging_alias(client):
    client.create_registered_model("staged")
    for number in range(3):
        client.create_model_version("staged", f"s3://b/staged/{number}")
    client.transition_model_version_stage("staged", "1", "Production")
    client.transition_model_version_stage("staged", "2", "Staging")
    assert client.get_model_version("staged", "2").aliases == ["staging"]
    client.transition_model_version_stage("staged", "2", "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions("name = 'staged'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "None"}
    latest = client.get_latest_versions("staged", stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    client.create_model_version("staged", "s3://b/staged/3")
    shown = {v.current_stage: v.version for v in client.get_registered_model("staged").latest_versions}
    assert shown == {"None": "4", "Production": "2", "Archived": "1"}


def test_deleting_through_mlflow_is_the_registrys_soft_delete(client):
    from mlflow.exceptions import RestException

    client.create_registered_model("short-lived")
    client.create_model_version("short-lived", "s3://b/short-lived/1")
    client.create_model_version("short-lived", "s3://b/short-lived/2")
    client.delete_model_version("short-lived", "1")
    with pytest.raises(RestException):
        client.get_model_version("short-lived", "1")
    # A deleted number is never reused, as in MLflow.
    assert client.create_model_version("short-lived", "s3://b/short-lived/3").version == "3"
    client.delete_registered_model("short-lived")
    with pytest.raises(RestException) as gone:
        client.get_registered_model("short-lived")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_versions_stored_files_download_by_alias_through_the_registry(client, registry_url, api_key, tmp_path):
    import hashlib

    import mlflow

    assert v1(registry_url, api_key, "POST", "/api/v1/models", v1_document("with-files"))[0] == 201
    files = {"MLmodel": b"flavors: {}\n", "model.safetensors": bytes(range(256)) * 512}
    for filename, content in files.items():
        request = urllib.request.Request(
            f"{registry_url}/api/v1/models/with-files/versions/1.0.0/artifacts/{filename}",
            method="PUT",
            data=content,
            headers={"Authorization": f"Api-Key {api_key}", "Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 201
    client.set_registered_model_alias("with-files", "champion", "1")

    folder = mlflow.artifacts.download_artifacts("models:/with-files@champion", dst_path=str(tmp_path / "got"))

    got = {path.name: path.read_bytes() for path in (tmp_path / "got").iterdir()}
    assert folder.rstrip("/").endswith("got") and got == files
    _, listing = v1(registry_url, api_key, "GET", "/api/v1/models/with-files/versions/1.0.0/artifacts")
    stored = {f["filename"]: f["sha256"] for f in listing["files"]}
    assert stored == {name: hashlib.sha256(content).hexdigest() for name, content in got.items()}


def test_mlflow_register_model_and_a_chosen_semver(client, mlflow_env):
    import mlflow

    first = mlflow.register_model("s3://ml-models/churn/1", "churn")
    again = mlflow.register_model("s3://ml-models/churn/2", "churn")  # the model exists: a second version
    assert (first.version, again.version) == ("1", "2")

    chosen = client.create_model_version("churn", "s3://ml-models/churn/3", tags={"registry.semver": "2.1.0-rc.1"})
    assert (chosen.version, chosen.tags["registry.semver"]) == ("3", "2.1.0-rc.1")
    # The semver shows the version; it is not a tag one can move.
    from mlflow.exceptions import RestException

    with pytest.raises(RestException) as refused:
        client.set_model_version_tag("churn", "3", "registry.semver", "3.0.0")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_registered_model_tags_are_the_registrys_labels_both_ways(client, registry_url, api_key):
    from mlflow.exceptions import RestException

    client.create_registered_model("labelled", tags={"team": "nlp"})
    client.create_model_version("labelled", "s3://b/labelled/1")
    client.set_registered_model_tag("labelled", "subject", "math")

    status, page = v1(registry_url, api_key, "GET", "/api/v1/models?label=team:nlp&label=subject:math")
    assert status == 200 and [d["name"] for d in page["results"]] == ["labelled"]
    assert page["results"][0]["labels"] == {"team": "nlp", "subject": "math"}

    # Labels set through /api/v1 are MLflow tags, and MLflow's search finds them.
    status, _ = v1(registry_url, api_key, "PATCH", "/api/v1/models/labelled", {"labels": {"team": "cv"}})
    assert status == 200
    assert client.get_registered_model("labelled").tags == {"team": "cv"}
    assert [m.name for m in client.search_registered_models("tags.team = 'cv'")] == ["labelled"]

    # A tag that is not a label is refused in MLflow's shape, and a refused create leaves no model.
    for call in (
        lambda: client.set_registered_model_tag("labelled", "team", "Risk & Fraud"),
        lambda: client.set_registered_model_tag("labelled", "Team", "nlp"),
        lambda: client.create_registered_model("refused", tags={"owner": "Data Science"}),
    ):
        with pytest.raises(RestException) as refused:
            call()
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "Registered-model tags are this registry's labels" in refused.value.message
    assert client.get_registered_model("labelled").tags == {"team": "cv"}
    assert client.search_registered_models("name = 'refused'") == []


def test_a_model_renamed_through_mlflows_client_keeps_its_versions_aliases_and_history(client, registry_url, api_key):
    from mlflow.exceptions import RestException
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    from kernel.models.webhooks import OutboxItem, WebhookSubscription

    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["model.*"])  # loopback, never sent
    client.create_registered_model("churn-old", tags={"team": "growth"})
    for number in (1, 2):
        client.create_model_version("churn-old", f"s3://b/churn/{number}")
    client.set_registered_model_alias("churn-old", "champion", "1")

    client.rename_registered_model("churn-old", "churn-new")

    renamed = client.get_registered_model("churn-new")
    assert renamed.tags == {"team": "growth"} and [v.version for v in renamed.latest_versions] == ["2"]
    assert client.get_registered_model("churn-new").aliases == {"champion": "1"}
    assert client.get_model_version_by_alias("churn-new", "champion").version == "1"
    assert ModelsArtifactRepository.get_underlying_uri("models:/churn-new@champion") == "s3://b/churn/1"
    assert client.get_model_version("churn-new", "2").name == "churn-new"
    with pytest.raises(RestException) as gone:
        client.get_registered_model("churn-old")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    status, history = v1(registry_url, api_key, "GET", "/api/v1/models/churn-new/history")
    assert status == 200
    assert [e["action"] for e in history["results"]][-1] == "model.renamed"
    assert len(history["results"]) == 5  # created (with its label), two versions, the alias, the rename
    assert OutboxItem.objects.filter(entry__action="model.renamed").exists()

    # The old name is free again, as in MLflow.
    assert client.create_registered_model("churn-old").name == "churn-old"
    with pytest.raises(RestException) as taken:
        client.rename_registered_model("churn-old", "churn-new")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
