"""The operators' commands: register, validate, apply_retention, refresh_stats, export_registry, import_registry."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kernel.writes.delete import soft_delete
from kernel.writes.lifecycle import activate, deprecate
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import assert_latest_flags_follow_pointers, example

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path):
    def write(name: str, content) -> str:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif name.endswith((".yaml", ".yml")):
            path.write_text(yaml.safe_dump(content))
        else:
            path.write_text(json.dumps(content))
        return str(path)

    return write


def test_register_reads_json_and_yaml_and_detects_each_kind(files):
    model = files("model.yaml", example("models_app", "llama2-7b-chat"))
    pipeline = files("pipeline.json", example("pipelines_app", "text-generation-pipeline"))
    policy = files("policy.yml", example("policies_app", "user-rate-limits"))

    code, out, err = run("register", model, pipeline, policy, "--activate")

    assert code == 0, err
    assert Model.objects.get().versions.get().is_current
    assert Pipeline.objects.filter(name="text-generation-pipeline").exists()
    assert Policy.objects.filter(name="user-rate-limits").exists()
    assert "registered pipeline text-generation-pipeline@1.0.0" in out


def test_register_reports_every_error_with_file_and_pointer_and_registers_the_rest(files, llama_doc):
    bad = {**llama_doc, "name": "Bad Name", "runtime": {"type": "nope"}}
    good = files("good.json", llama_doc)
    broken = files("bad.json", bad)

    code, out, err = run("register", broken, good)

    assert code == 1
    assert f"{broken}: /name: invalid_format" in err and f"{broken}: /runtime/type: invalid_choice" in err
    assert ModelVersion.objects.count() == 1
    retry = run("register", good)  # the same artifact digest: a retry, answered with the existing version
    assert retry[0] == 0 and ModelVersion.objects.count() == 1
    other = files("other.json", {**llama_doc, "artifact": {**llama_doc["artifact"], "checksum": "sha256:" + "c" * 64}})
    again = run("register", other)
    assert again[0] == 1 and f"{other}: /version: version_exists" in again[2]


def test_validate_exits_1_on_errors_with_the_same_errors_as_the_api(files, api, llama_doc):
    bad = {**llama_doc, "version": "1.0", "capabilities": "chat"}
    path = files("m.yaml", bad)

    code, out, err = run("validate", path, "--json")

    api_errors = api.post("/api/v1/models/validate", bad, format="json").json()["errors"]
    assert code == 1
    assert json.loads(out.splitlines()[0])["errors"] == api_errors
    assert ModelVersion.objects.count() == 0


def test_validate_passes_valid_documents_and_lists_of_them(files, model_doc):
    path = files("many.json", [model_doc(version="1.0.0"), model_doc(version="1.1.0")])

    code, out, err = run("validate", path)

    assert code == 0 and out.count("valid model") == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bomb.yaml", "a: &a [1, 2]\nb: [*a, *a]\n", "aliases"),
        ("broken.json", '{"name": ', "malformed JSON"),
        ("nan.json", '{"name": NaN}', "malformed JSON"),
        ("deep.json", "[" * 200 + "]" * 200, "nested deeper"),
        ("tab.yaml", "name: [unclosed\n", "malformed YAML"),
    ],
)
def test_validate_rejects_unreadable_files_without_a_traceback(files, name, content, message):
    code, out, err = run("validate", files(name, content))

    assert code == 1 and message in err


def test_validate_a_missing_file_is_an_error(tmp_path):
    code, out, err = run("validate", str(tmp_path / "nope.json"))
    assert code == 1 and "cannot read" in err


def test_apply_retention_command_dry_run_and_real(model_doc):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        register(Model, model_doc(name="a", version=version))

    code, out, _ = run("apply_retention", "--model", "a", "--keep", "1", "--dry-run")
    assert code == 0 and "would archive 2" in out
    assert ModelVersion.objects.filter(status="archived").count() == 0

    code, out, _ = run("apply_retention", "--keep", "1")
    assert code == 0 and "archived 2" in out
    assert ModelVersion.objects.filter(status="archived").count() == 2


def test_apply_retention_command_rejects_unknown_model_and_bad_keep():
    assert run("apply_retention", "--model", "nope")[0] == 2
    with pytest.raises(CommandError):
        call_command("apply_retention", "--keep", "11")


def test_refresh_stats_command_stores_the_snapshot(model_doc, anon, api):
    register(Model, model_doc(name="a", family="llama"))
    code, out, _ = run("refresh_stats", "--json")
    assert code == 0 and json.loads(out)["models"]["by_family"] == {"llama": 1}


# -- backup ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def populated(model_doc, user):
    from pipelines_app.models import Pipeline
    from tests.pipelines_app.conftest import pipeline, step

    for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1"):
        register(Model, model_doc(name="llama", version=version, family="llama", tags=["x"]), user=user)
    register(Model, model_doc(name="mistral", version="0.1.0"))
    llama = Model.objects.get(name="llama")
    activate(llama.versions.get(version="1.1.0"))
    deprecate(llama.versions.get(version="1.2.0"))
    Model.objects.apply_retention(keep=1)
    soft_delete(Model.objects.get(name="mistral"))
    activate(register(Pipeline, pipeline(step("gen", type="inference", model="llama@1.1.0"))).version)
    register(Policy, example("policies_app", "user-rate-limits"))


def test_export_of_an_import_equals_the_original_export(populated, tmp_path):
    first, second = tmp_path / "first.jsonl.gz", tmp_path / "second.jsonl"
    assert run("export_registry", str(first))[0] == 0
    ids = set(ModelVersion.objects.values_list("pk", flat=True))
    from pipelines_app.models import PipelineVersion
    from policies_app.models import PolicyVersion

    for model in (PipelineVersion, Pipeline, PolicyVersion, Policy, ModelVersion, Model):
        model.objects.all().delete()
    clear_change_log()  # the export carries the history too

    code, out, err = run("import_registry", str(first))
    assert code == 0, err
    assert run("export_registry", str(second))[0] == 0

    import gzip

    assert gzip.open(first, "rt").read() == second.read_text()
    assert set(ModelVersion.objects.values_list("pk", flat=True)) == ids
    assert_latest_flags_follow_pointers()
    assert ModelVersion.objects.get(is_latest=True, model__name="llama").version == "1.2.0"
    llama = Model.objects.get(name="llama")
    assert llama.versions.get(is_current=True).version == "1.1.0"
    assert Model.objects.get(name="mistral").deleted_at is not None
    assert llama.versions.get(version="1.0.0").storage_tier == "cold"


def test_import_into_a_non_empty_registry_refuses_conflicts_and_imports_nothing(populated, tmp_path, model_doc):
    path = tmp_path / "backup.jsonl"
    run("export_registry", str(path))
    Pipeline.objects.get().versions.all().delete()
    Pipeline.objects.all().delete()
    before = ModelVersion.objects.count()

    code, out, err = run("import_registry", str(path))

    assert code == 1 and "conflict: model llama already exists" in err
    assert ModelVersion.objects.count() == before and not Pipeline.objects.exists()

    code, out, err = run("import_registry", str(path), "--on-conflict", "skip")
    assert code == 0 and "kept existing model llama" in out
    assert Pipeline.objects.filter(name="p").exists()


def export_text(*lines: str, header: str = '{"format": "ml-registry-export", "format_version": 2}') -> str:
    """An export of these record lines with its true trailer (digest and counts), as export_registry writes it."""
    import hashlib

    body = "".join(line + "\n" for line in (header, *lines))
    counts: dict[str, int] = {}
    for line in lines:
        try:
            section = str(json.loads(line).get("section"))
        except ValueError:
            continue
        counts[section] = counts.get(section, 0) + 1
    trailer = {"counts": counts, "records": len(lines), "sha256": hashlib.sha256(body.encode()).hexdigest()}
    return body + json.dumps({"trailer": trailer}) + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ('{"format": "something-else"}\n', "not a ml-registry-export"),
        (export_text('{"section": "nope"}'), "Unknown section"),
        (
            export_text('{"section": "models", "type": "version", "definition": "x", "id": "1"}'),
            "no earlier record",
        ),
        (export_text('{"section": "models", "type": "definition"}'), "name is missing"),
        (export_text("not json"), "Line 2: not JSON"),
    ],
)
def test_import_rejects_a_malformed_file_and_imports_nothing(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)

    code, out, err = run("import_registry", str(path))

    assert code == 2 and message in err
    assert not Model.objects.exists()


def empty_registry() -> None:
    """Delete everything an export carries (users stay), as before a restore."""
    from bindings_app.models import BindingStatusChange, ProviderBinding
    from kernel.models.aliases import Alias
    from models_app.models import ArtifactFile, Attestation, Contribution
    from pipelines_app.models import PipelineVersion
    from policies_app.models import PolicyVersion

    clear_change_log()
    for model in (
        BindingStatusChange,
        ProviderBinding,
        Contribution,
        Attestation,
        ArtifactFile,
        Alias,
        PipelineVersion,
        Pipeline,
        PolicyVersion,
        Policy,
    ):
        model.objects.all().delete()
    ModelVersion.objects.filter(derived_from__isnull=False).delete()
    ModelVersion.objects.all().delete()
    Model.objects.all().delete()


def clear_change_log() -> None:
    """Empty the change log (append-only for the application; a test starting the registry afresh may)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
            cursor.execute("TRUNCATE registry_changelog CASCADE")
        else:
            cursor.execute("DELETE FROM registry_webhook_outbox")
            cursor.execute("DELETE FROM registry_changelog")


@pytest.fixture
def populated_with_everything(populated, model_doc, settings, tmp_path, api):
    """``populated`` plus what the other apps keep: a binding with status moves, an alias, a derived version with
    contributors and its signed attestation, and a stored artifact file."""
    from bindings_app.models import ProviderBinding
    from kernel.models.aliases import Alias
    from models_app.attestations.keys import generate_key

    settings.ATTESTATION_SIGNING_KEY_FILE = str(tmp_path / "key.pem")
    settings.ATTESTATION_RETIRED_KEY_FILES = []
    generate_key(tmp_path / "key.pem")
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path / "artifacts")
    llama = Model.objects.get(name="llama")
    base = llama.versions.get(version="1.1.0")
    register(Model, {**model_doc(name="llama", version="1.3.0", family="llama"), "metrics": {"accuracy": 0.8}})
    register(
        Model,
        {
            **model_doc(name="llama", version="1.4.0", family="llama"),
            "metrics": {"accuracy": 0.9},
            "derived_from": {"model": "llama", "version": "1.3.0", "relation": "finetune"},
            "contributors": [{"address": "0x52908400098527886e0f7030069857d2e4169ee7", "role": "data", "weight": 1}],
        },
    )
    binding = ProviderBinding.deploy(
        base,
        provider="openai",
        provider_model_id="gpt-4o",
        endpoint_url="https://api.example.com/v1",
        region="us-east-1",
        environment="production",
        cost_per_1k_input_tokens="0.5",
    )
    binding.disable()
    Alias.move(llama, "champion", "1.1.0")
    assert api.put(
        "/api/v1/models/llama/versions/1.1.0/artifacts/w.bin", data=b"w" * 10, content_type="application/octet-stream"
    ).status_code in (200, 201)


def test_export_of_an_import_equals_the_original_export_with_bindings_lineage_aliases_history_and_files(
    populated_with_everything, tmp_path
):
    from bindings_app.models import BindingStatusChange, ProviderBinding
    from kernel.models.aliases import Alias
    from kernel.models.changelog import ChangeLogEntry
    from models_app.models import ArtifactFile, Attestation, Contribution

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run("export_registry", str(first))[0] == 0
    sections = {json.loads(line)["section"] for line in first.read_text().splitlines()[1:-1]}  # header, trailer
    assert {"bindings", "lineage", "registry"} <= sections
    counts = {
        m: m.objects.count()
        for m in (ProviderBinding, BindingStatusChange, Contribution, Attestation, ArtifactFile, Alias, ChangeLogEntry)
    }
    assert all(counts.values()), counts
    entry_ids = list(ChangeLogEntry.objects.values_list("id", flat=True))

    empty_registry()

    code, out, err = run("import_registry", str(first))
    assert code == 0, err
    assert run("export_registry", str(second))[0] == 0

    assert first.read_text() == second.read_text()
    assert {m: m.objects.count() for m in counts} == counts
    assert list(ChangeLogEntry.objects.values_list("id", flat=True)) == entry_ids
    assert ProviderBinding.status_at(ProviderBinding.objects.get().pk, ChangeLogEntry.objects.last().at) == (
        True,
        "disabled",
    )
    assert Attestation.objects.get().version.version == "1.4.0"
