"""import_registry trusts nothing in its file: the trailer proves the file whole before anything is committed, every
row passes the API's rules (attestations on their own version, storage keys inside the store, bindings without
credentials), and references to users that do not exist are refused, set to null or mapped, as the operator says.
The storage itself refuses a key that could resolve outside the artifact store."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from kernel.models.changelog import ChangeLogEntry
from models_app.models import ArtifactFile, Attestation, ModelVersion

from .test_commands import (  # noqa: F401 (fixtures)
    clear_change_log,
    empty_registry,
    populated,
    populated_with_everything,
    run,
)

pytestmark = pytest.mark.django_db


def exported(tmp_path) -> list[str]:
    path = tmp_path / "export.jsonl"
    assert run("export_registry", str(path))[0] == 0
    return path.read_text().splitlines(keepends=True)


def with_true_trailer(lines: list[str]) -> str:
    """``lines`` (header and records, the trailer dropped) with the trailer export_registry would write for them: a
    file whose every byte is consistent, as one crafted by hand would be."""
    body = "".join(line for line in lines if not line.startswith('{"trailer"'))
    counts: dict[str, int] = {}
    for line in body.splitlines()[1:]:
        section = json.loads(line)["section"]
        counts[section] = counts.get(section, 0) + 1
    trailer = {"counts": counts, "records": sum(counts.values()), "sha256": hashlib.sha256(body.encode()).hexdigest()}
    return body + json.dumps({"trailer": trailer}, separators=(",", ":")) + "\n"


def record_index(lines: list[str], **match) -> int:
    return next(i for i, line in enumerate(lines) if all(json.loads(line).get(k) == v for k, v in match.items()))


def import_text(tmp_path, text: str, *options: str) -> tuple[int, str, str]:
    path = tmp_path / "import.jsonl"
    path.write_text(text)
    return run("import_registry", str(path), *options)


def assert_nothing_imported() -> None:
    assert not ModelVersion.objects.exists()
    assert not ChangeLogEntry.objects.exists()


# -- (a) the trailer ----------------------------------------------------------------------------------------------


def cut_after_last_record(lines):
    return "".join(lines[:-2])  # the last record and the trailer: a cut at a record boundary


def trailer_only_missing(lines):
    return "".join(lines[:-1])


def last_record_missing(lines):
    return "".join(lines[:-2] + lines[-1:])


def one_byte_altered(lines):
    index = record_index(lines[1:-1], type="version", definition="llama") + 1
    return "".join(lines[:index] + [lines[index].replace('"1.0.0"', '"1.0.1"', 1)] + lines[index + 1 :])


def wrong_digest(lines):
    trailer = json.loads(lines[-1])
    trailer["trailer"]["sha256"] = "0" * 64
    return "".join(lines[:-1]) + json.dumps(trailer) + "\n"


def wrong_counts(lines):
    trailer = json.loads(lines[-1])
    trailer["trailer"]["counts"]["models"] += 1
    return "".join(lines[:-1]) + json.dumps(trailer) + "\n"


def records_after_the_trailer(lines):
    return "".join(lines) + lines[1]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (cut_after_last_record, "without its trailer"),
        (trailer_only_missing, "without its trailer"),
        (last_record_missing, "do not match its trailer's sha256"),
        (one_byte_altered, "do not match its trailer's sha256"),
        (wrong_digest, "do not match its trailer's sha256"),
        (wrong_counts, "do not match the trailer's counts"),
        (records_after_the_trailer, "after the trailer"),
    ],
)
def test_a_cut_or_altered_file_imports_nothing_and_says_why(populated_with_everything, tmp_path, damage, message):
    lines = exported(tmp_path)
    empty_registry()

    code, out, err = import_text(tmp_path, damage(lines))

    assert code == 2, (out, err)
    assert message in err and "nothing was imported" in err
    assert_nothing_imported()


def test_a_cut_file_on_stdin_is_checked_before_the_transaction_commits(populated, tmp_path, monkeypatch):
    lines = exported(tmp_path)
    empty_registry()
    monkeypatch.setattr(sys, "stdin", io.StringIO(cut_after_last_record(lines)))

    code, out, err = run("import_registry", "-")

    assert code == 2 and "without its trailer" in err
    assert_nothing_imported()


def test_the_whole_file_imports_when_it_matches_its_trailer(populated_with_everything, tmp_path):
    lines = exported(tmp_path)
    empty_registry()

    code, out, err = import_text(tmp_path, "".join(lines))

    assert code == 0, err
    assert Attestation.objects.get().version.version == "1.4.0"


def test_a_format_1_file_without_trailer_is_read_only_when_asked(populated, tmp_path):
    lines = exported(tmp_path)
    empty_registry()
    untrailed = "".join([lines[0].replace('"format_version":2', '"format_version":1')] + lines[1:-1])

    refused = import_text(tmp_path, untrailed)
    accepted = import_text(tmp_path, untrailed, "--allow-untrailed")

    assert refused[0] == 2 and "--allow-untrailed" in refused[2]
    assert accepted[0] == 0, accepted[2]
    assert ModelVersion.objects.filter(model__name="llama").exists()


# -- (b) rows are checked as the API checks them ------------------------------------------------------------------


def test_an_attestation_moved_onto_another_version_is_refused(populated_with_everything, tmp_path):
    lines = exported(tmp_path)
    other = str(ModelVersion.objects.get(model__name="llama", version="1.3.0").pk)
    index = record_index(lines[1:-1], type="attestation") + 1
    record = json.loads(lines[index])
    record["version"] = other
    lines[index] = json.dumps(record) + "\n"
    empty_registry()

    code, out, err = import_text(tmp_path, with_true_trailer(lines))

    assert code == 2 and "attestation refused" in err and "model:llama@1.3.0" in err, err
    assert_nothing_imported()


def test_an_attestation_signed_for_another_digest_is_refused(populated_with_everything, tmp_path):
    from models_app.attestations.keys import signing_key
    from models_app.attestations.sign import sign

    lines = exported(tmp_path)
    index = record_index(lines[1:-1], type="attestation") + 1
    record = json.loads(lines[index])
    statement = json.loads(base64.b64decode(record["envelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "ab" * 32  # signed by the registry's own key, for other bytes
    record["envelope"] = sign(statement, signing_key())
    lines[index] = json.dumps(record) + "\n"
    empty_registry()

    code, out, err = import_text(tmp_path, with_true_trailer(lines))

    assert code == 2 and "its signed subject is not model:llama@1.4.0" in err, err
    assert_nothing_imported()


def test_an_attestation_whose_payload_was_edited_is_refused(populated_with_everything, tmp_path):
    lines = exported(tmp_path)
    index = record_index(lines[1:-1], type="attestation") + 1
    record = json.loads(lines[index])
    statement = json.loads(base64.b64decode(record["envelope"]["payload"]))
    statement["predicate"]["improvements"] = ["everything"]
    record["envelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    lines[index] = json.dumps(record) + "\n"
    empty_registry()

    code, out, err = import_text(tmp_path, with_true_trailer(lines))

    assert code == 2 and "the signature does not verify" in err, err
    assert_nothing_imported()


BAD_KEYS = {
    "parent segments": "../../../../etc/passwd",
    "absolute": "/etc/passwd",
    "backslashes": "llama\\1.1.0\\..\\..\\w.bin",
    "nul": "llama/1.1.0/abc/w.bin\x00.txt",
    "another version's prefix": "llama/1.0.0/0123456789abcdef0123456789abcdef/w.bin",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_storage_key_outside_its_place_in_the_store_is_refused(populated_with_everything, tmp_path, key):
    lines = exported(tmp_path)
    index = record_index(lines[1:-1], type="artifact_file") + 1
    record = json.loads(lines[index])
    record["storage_key"] = key
    lines[index] = json.dumps(record) + "\n"
    empty_registry()

    code, out, err = import_text(tmp_path, with_true_trailer(lines))

    assert code == 2 and "storage_key refused" in err, err
    assert "passwd" not in err and "\x00" not in err
    assert_nothing_imported()


def test_a_binding_holding_a_credential_is_refused(populated_with_everything, tmp_path):
    lines = exported(tmp_path)
    index = record_index(lines[1:-1], type="binding") + 1
    record = json.loads(lines[index])
    record["endpoint_url"] = "https://user:hunter2@api.example.com/v1"
    lines[index] = json.dumps(record) + "\n"
    empty_registry()

    code, out, err = import_text(tmp_path, with_true_trailer(lines))

    assert code == 2 and "binding refused: /endpoint_url" in err and "hunter2" not in err, err
    assert_nothing_imported()


@pytest.mark.parametrize("key", ["../../../../etc/passwd", "/etc/passwd", "a\\..\\..\\b", "a/\x00/b", "a//b"])
def test_the_storage_refuses_a_key_that_could_leave_the_store(settings, tmp_path, key):
    from models_app.artifacts.storage import StorageKeyRefused, artifact_storage

    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path / "store")
    storage = artifact_storage()

    for operation in (storage.open, storage.exists, storage.size, storage.delete, storage.path):
        with pytest.raises(StorageKeyRefused) as refused:
            operation(key)
        assert str(tmp_path) not in str(refused.value)


def test_the_s3_storage_refuses_such_keys_before_any_request(settings):
    from models_app.artifacts.storage import StorageKeyRefused, artifact_storage

    settings.ARTIFACT_STORAGE = "s3"
    settings.ARTIFACT_S3 = {  # a closed loopback port: any request would fail with a connection error instead
        "bucket_name": "artifacts",
        "endpoint_url": "http://127.0.0.1:9",
        "region_name": "us-east-1",
        "location": "",
        "access_key": "test",
        "secret_key": "test",
    }
    storage = artifact_storage()

    for operation in (storage.open, storage.exists, storage.size, storage.delete, storage.url):
        with pytest.raises(StorageKeyRefused):
            operation("../../other-bucket/object")


def test_the_storage_refuses_a_symbolic_link_out_of_the_store(settings, tmp_path):
    from models_app.artifacts.storage import StorageKeyRefused, artifact_storage

    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path / "store")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("not yours")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "llama").symlink_to(tmp_path / "outside")

    with pytest.raises(StorageKeyRefused):
        artifact_storage().open("llama/secret.txt")


def test_a_stored_row_with_a_bad_key_is_missing_to_verify_and_download(populated_with_everything, api, settings):
    artifact = ArtifactFile.objects.get()
    ArtifactFile.objects.filter(pk=artifact.pk).update(storage_key="../../../../etc/passwd")

    code, out, err = run("verify_artifacts", "--no-progress")
    response = api.get("/api/v1/models/llama/versions/1.1.0/artifacts/w.bin")

    assert code == 1 and "checked 1: 0 ok, 0 mismatch, 1 missing" in out  # a report, not a traceback
    assert ArtifactFile.objects.get().integrity == "missing"
    assert response.status_code == 404, response.content[:300]
    assert response.json()["errors"][0]["code"] == "missing_from_storage"
    assert str(Path(settings.ARTIFACT_ROOT)) not in response.content.decode()


# -- (c) users that do not exist --------------------------------------------------------------------------------


@pytest.fixture
def export_without_its_user(populated_with_everything, tmp_path):
    """An export whose versions and artifact file name the user ``svc``, and a registry where ``svc`` is gone."""
    lines = exported(tmp_path)
    assert '"created_by":"svc"' in "".join(lines) and '"uploaded_by":"svc"' in "".join(lines)
    empty_registry()
    get_user_model().objects.filter(username="svc").delete()
    clear_change_log()  # the user's deletion is logged; the registry is empty again
    path = tmp_path / "export.jsonl"
    path.write_text("".join(lines))
    return str(path)


def test_references_to_missing_users_fail_by_default_listing_them(export_without_its_user):
    code, out, err = run("import_registry", export_without_its_user)

    assert code == 3, (out, err)
    assert "missing user: svc (" in err and "nothing was imported" in err
    assert_nothing_imported()


def test_missing_users_can_be_imported_as_null_with_a_report(export_without_its_user):
    code, out, err = run("import_registry", export_without_its_user, "--missing-users=null")

    assert code == 0, err
    assert "missing user: svc" in out and "set to null" in out
    assert ModelVersion.objects.filter(model__name="llama").exists()
    assert not ModelVersion.objects.filter(created_by__isnull=False).exists()
    assert ArtifactFile.objects.get().uploaded_by is None


def test_missing_users_can_be_mapped_to_a_named_user(export_without_its_user):
    curator = get_user_model().objects.create_user(username="curator")

    code, out, err = run("import_registry", export_without_its_user, "--map-missing-users-to=curator")

    assert code == 0, err
    assert "missing user: svc" in out and "given to curator" in out
    assert ModelVersion.objects.filter(created_by=curator).count() == 4  # the four svc registered
    assert ArtifactFile.objects.get().uploaded_by == curator


def test_mapping_to_a_user_that_does_not_exist_imports_nothing(export_without_its_user):
    code, out, err = run("import_registry", export_without_its_user, "--map-missing-users-to=nobody")

    assert code == 2 and "'nobody', who is not a user here" in err
    assert_nothing_imported()


def test_a_row_with_a_bad_key_can_still_be_purged_and_nothing_outside_is_touched(populated_with_everything, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep me")
    artifact = ArtifactFile.objects.get()
    ArtifactFile.objects.filter(pk=artifact.pk).update(storage_key=f"../{outside.name}")

    artifact.version.delete_stored_artifacts()

    assert not ArtifactFile.objects.exists()
    assert outside.read_bytes() == b"keep me"


def test_the_two_missing_user_options_exclude_each_other(export_without_its_user):
    code, out, err = run(
        "import_registry", export_without_its_user, "--missing-users=null", "--map-missing-users-to=curator"
    )

    assert code == 2 and "not both" in err
    assert_nothing_imported()
