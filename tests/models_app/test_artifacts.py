"""Stored artifacts, on the filesystem and on a real S3 API (moto's server): streamed upload with both digests,
declared-digest checks that keep nothing, size limit, Range downloads, sealing, integrity re-check, purge."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from pathlib import Path

import blake3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from kernel.writes.lifecycle import archive
from kernel.writes.register import register, register_version
from kernel.writes.register import register_version as do_register_version
from models_app.models import ArtifactFile, Model, ModelVersion
from models_app.tasks import verify_artifacts
from tests.s3_server import (  # noqa: F401,F811  (fixtures)
    CREDENTIALS,
    REGION,
    free_port,
    s3_bucket,
    s3_client,
    s3_endpoint,
    use_s3,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts"
WEIGHTS = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Backend:
    """The storage under test, seen from outside the registry (to tamper with it and to prove what it holds)."""

    def __init__(self, kind: str, root: Path | None = None, endpoint: str | None = None, bucket: str | None = None):
        self.kind, self.root, self.endpoint, self.bucket = kind, root, endpoint, bucket

    def keys(self) -> list[str]:
        if self.kind == "filesystem":
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        listing = s3_client(self.endpoint).list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def overwrite(self, key: str, data: bytes) -> None:
        if self.kind == "filesystem":
            (self.root / key).write_bytes(data)
        else:
            s3_client(self.endpoint).put_object(Bucket=self.bucket, Key=key, Body=data)

    def remove(self, key: str) -> None:
        if self.kind == "filesystem":
            (self.root / key).unlink()
        else:
            s3_client(self.endpoint).delete_object(Bucket=self.bucket, Key=key)

    def download(self, response, range_header: str | None = None) -> tuple[int, bytes, dict]:
        """What a client ends up with: the streamed body, or the presigned URL's body on S3."""
        if self.kind == "filesystem":
            assert response.status_code in (200, 206), response.status_code
            return response.status_code, b"".join(response.streaming_content), response.headers
        assert response.status_code == 302
        assert "X-Amz-Signature" in response["Location"] and "X-Amz-Expires=300" in response["Location"]
        request = urllib.request.Request(response["Location"], headers={"Range": range_header} if range_header else {})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read(), reply.headers  # case-insensitive, like Django's


@pytest.fixture(params=["filesystem", "s3"])
def backend(request, settings, tmp_path) -> Backend:
    if request.param == "filesystem":
        settings.ARTIFACT_STORAGE = "filesystem"
        settings.ARTIFACT_ROOT = str(tmp_path)
        return Backend("filesystem", root=tmp_path)
    endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket")
    use_s3(settings, endpoint, bucket)
    return Backend("s3", endpoint=endpoint, bucket=bucket)


@pytest.fixture
def version(llama_doc) -> ModelVersion:
    return register(Model, llama_doc).version


def declaring(model_doc, version="1.0.0", **files) -> ModelVersion:
    """Register a version whose document declares ``files`` ({filename: {"size_bytes", "checksum"}})."""
    doc = model_doc(version=version)
    doc["artifact"]["files"] = files
    return register(Model, doc).version


def put(api, filename: str, data: bytes, base: str = BASE):
    return api.put(f"{base}/{filename}", data=data, content_type="application/octet-stream")


def test_upload_streams_the_file_and_records_both_digests(api, backend, version):
    response = put(api, "model.safetensors", WEIGHTS)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == sha256(WEIGHTS)
    assert body["blake3"] == blake3.blake3(WEIGHTS).hexdigest()
    assert body["size"] == len(WEIGHTS) and body["storage_tier"] == backend.kind
    assert len(backend.keys()) == 1

    listing = api.get(BASE).json()
    assert [(f["filename"], f["sha256"], f["integrity"]) for f in listing["files"]] == [
        ("model.safetensors", sha256(WEIGHTS), "ok")
    ]

    status, data, _ = backend.download(api.get(f"{BASE}/model.safetensors"))
    assert status == 200 and data == WEIGHTS

    head = api.head(f"{BASE}/model.safetensors")
    assert head.status_code == 200
    assert head["Content-Length"] == str(len(WEIGHTS))
    assert head["X-Artifact-Blake3"] == body["blake3"] and head["ETag"] == f'"{body["sha256"]}"'


def test_a_body_larger_than_the_json_limit_streams_through(api, backend, version, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    data = b"x" * (3 * 1024 * 1024 + 7)

    response = put(api, "big.bin", data)

    assert response.status_code == 201, response.json()
    assert response.json()["sha256"] == sha256(data)


def test_the_document_shows_stored_digests_beside_the_declared_checksum(api, backend, version, llama_doc):
    put(api, "model.safetensors", WEIGHTS)

    doc = api.get("/api/v1/models/llama2-7b-chat").json()

    assert doc["artifact"]["checksum"] == llama_doc["artifact"]["checksum"]  # declared, as registered
    assert doc["stored_artifacts"][0]["sha256"] == sha256(WEIGHTS)
    # A document as GET returned it can be sent back: the stored digests are read-only and ignored.
    assert api.put("/api/v1/models/llama2-7b-chat", data={**doc, "description": "x"}, format="json").status_code == 200


def test_declared_checksum_mismatch_is_refused_and_nothing_is_kept(api, backend, model_doc):
    declaring(model_doc, **{"model.bin": {"checksum": "sha256:" + "0" * 64, "size_bytes": len(WEIGHTS)}})

    response = put(api, "model.bin", WEIGHTS)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "checksum_mismatch" and error["parameter"] == "filename"
    assert "0" * 64 in error["message"] and sha256(WEIGHTS) in error["message"]
    assert error["details"]["expected"] == {"sha256": "0" * 64}
    assert error["details"]["actual"] == {"sha256": sha256(WEIGHTS)}
    assert backend.keys() == []
    assert not ArtifactFile.objects.exists()


def test_declared_size_mismatch_names_both_sizes(api, backend, model_doc):
    declaring(model_doc, **{"model.bin": {"size_bytes": 5}})

    response = put(api, "model.bin", WEIGHTS)

    assert response.status_code == 400
    assert response.json()["errors"][0]["details"]["actual"] == {"size": len(WEIGHTS)}
    assert backend.keys() == []


def test_declared_blake3_digest_is_checked_too(api, backend, model_doc):
    declaring(model_doc, **{"model.bin": {"checksum": "blake3:" + blake3.blake3(WEIGHTS).hexdigest()}})

    assert put(api, "model.bin", WEIGHTS).status_code == 201
    assert put(api, "other.bin", WEIGHTS).status_code == 201
    assert ArtifactFile.objects.get(filename="model.bin").sealed
    assert not ArtifactFile.objects.get(filename="other.bin").sealed


def test_a_file_over_the_size_limit_is_413_and_nothing_is_kept(api, backend, version, settings):
    settings.ARTIFACT_MAX_FILE_BYTES = 100

    raw = put(api, "model.bin", b"y" * 101)
    multipart = api.put(BASE, data={"f": SimpleUploadedFile("model.bin", b"y" * 101)}, format="multipart")

    assert raw.status_code == 413 and raw.json()["errors"][0]["code"] == "too_large"
    assert multipart.status_code == 413
    assert backend.keys() == []
    assert put(api, "model.bin", b"y" * 100).status_code == 201


def test_multipart_stores_every_file_or_none(api, backend, model_doc):
    declaring(model_doc, **{"b.bin": {"checksum": "sha256:" + sha256(b"bbb")}})
    good = {"a": SimpleUploadedFile("a.bin", b"aaa"), "b": SimpleUploadedFile("b.bin", b"bbb")}
    bad = {"c": SimpleUploadedFile("c.bin", b"ccc"), "b": SimpleUploadedFile("b.bin", b"not b")}

    refused = api.put(BASE, data=bad, format="multipart")
    assert refused.status_code == 400 and backend.keys() == []

    response = api.put(BASE, data=good, format="multipart")
    assert response.status_code == 201, response.json()
    assert {f["filename"]: f["sha256"] for f in response.json()["files"]} == {
        "a.bin": sha256(b"aaa"),
        "b.bin": sha256(b"bbb"),
    }
    assert len(backend.keys()) == 2


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [("bytes=2-5", 206, WEIGHTS[2:6]), ("bytes=10240-", 206, WEIGHTS[10240:]), ("bytes=-4", 206, b"tail")],
)
def test_range_download(api, backend, version, header, status, expected):
    put(api, "model.bin", WEIGHTS)

    got_status, data, headers = backend.download(api.get(f"{BASE}/model.bin", HTTP_RANGE=header), header)

    assert (got_status, data) == (status, expected)
    start = len(WEIGHTS) - len(expected) if header.startswith("bytes=-") else int(header[6:].split("-")[0])
    assert headers["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(WEIGHTS)}"


def test_a_range_past_the_end_is_416(api, settings, tmp_path, version):
    settings.ARTIFACT_ROOT = str(tmp_path)
    put(api, "model.bin", WEIGHTS)

    response = api.get(f"{BASE}/model.bin", HTTP_RANGE="bytes=99999-")

    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(WEIGHTS)}"


def test_a_declared_file_is_sealed_by_its_first_upload(api, backend, model_doc):
    declaring(model_doc, **{"model.bin": {"checksum": "sha256:" + sha256(WEIGHTS)}})
    assert put(api, "model.bin", WEIGHTS).status_code == 201

    response = put(api, "model.bin", WEIGHTS[:10])

    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "sealed"
    _, data, _ = backend.download(api.get(f"{BASE}/model.bin"))
    assert data == WEIGHTS
    assert len(backend.keys()) == 1


def test_an_undeclared_file_may_be_replaced_until_the_version_is_sealed(
    api, backend, version, django_capture_on_commit_callbacks
):
    put(api, "notes.txt", b"first")
    with django_capture_on_commit_callbacks(execute=True):
        assert put(api, "notes.txt", b"second").status_code == 201
    assert backend.keys() == [ArtifactFile.objects.get().storage_key]  # the replaced object is gone

    sealed = api.post("/api/v1/models/llama2-7b-chat/versions/1.0.0/seal")
    assert sealed.status_code == 200 and sealed.json()["sealed"] is True

    assert put(api, "notes.txt", b"third").status_code == 409
    assert put(api, "new.txt", b"new").status_code == 409
    _, data, _ = backend.download(api.get(f"{BASE}/notes.txt"))
    assert data == b"second"


def test_uploading_to_an_archived_version_is_409(api, backend, version):
    archive(version)

    response = put(api, "model.bin", WEIGHTS)

    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "archived"
    assert backend.keys() == []


def test_integrity_recheck_catches_a_file_changed_behind_the_registrys_back(api, backend, version, capsys):
    put(api, "model.bin", WEIGHTS)
    put(api, "config.json", b"{}")
    model_bin = ArtifactFile.objects.get(filename="model.bin")
    backend.overwrite(model_bin.storage_key, WEIGHTS[:-1] + b"X")
    backend.remove(ArtifactFile.objects.get(filename="config.json").storage_key)

    with pytest.raises(CommandError, match="2 artifact file"):
        call_command("verify_artifacts", "--model", "llama2-7b-chat", "--no-progress")

    out = capsys.readouterr().out
    assert "MISMATCH: llama2-7b-chat@1.0.0/model.bin" in out and "MISSING: llama2-7b-chat@1.0.0/config.json" in out
    assert dict(ArtifactFile.objects.values_list("filename", "integrity")) == {
        "model.bin": "mismatch",
        "config.json": "missing",
    }
    assert api.get(f"{BASE}/model.bin")["X-Artifact-Integrity"] == "mismatch"
    metrics = api.get("/metrics").content.decode()
    assert 'registry_artifact_files{integrity="mismatch"} 1.0' in metrics
    assert 'registry_artifact_files{integrity="missing"} 1.0' in metrics

    backend.overwrite(model_bin.storage_key, WEIGHTS)
    summary = verify_artifacts.apply().get()  # runs here whether or not a broker is configured
    assert (summary["ok"], summary["mismatch"], summary["missing"]) == (1, 0, 1)


def test_purge_removes_the_versions_files_and_leaves_other_versions_intact(api, backend, version, model_doc):
    do_register_version(Model.objects.get(), model_doc(version="1.1.0"))
    put(api, "model.bin", WEIGHTS)
    put(api, "model.bin", WEIGHTS, base=BASE.replace("1.0.0", "1.1.0"))  # the same bytes in another version

    version.delete_stored_artifacts()

    assert not version.artifact_files.exists()
    assert len(backend.keys()) == 1
    _, data, _ = backend.download(api.get(f"{BASE.replace('1.0.0', '1.1.0')}/model.bin"))
    assert data == WEIGHTS
    version.delete_stored_artifacts()  # a retry after a partial purge succeeds


def test_registering_the_same_version_with_the_same_digest_is_a_200(api, llama_doc):
    first = api.post("/api/v1/models", data=llama_doc, format="json")

    again = api.post("/api/v1/models", data=llama_doc, format="json")
    llama_doc["artifact"]["checksum"] = "sha256:" + "b" * 64
    different = api.post("/api/v1/models", data=llama_doc, format="json")

    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["warnings"][0]["code"] == "already_registered"
    assert different.status_code == 409
    assert ModelVersion.objects.count() == 1


def test_refused_requests_answer_in_the_error_shape(api, readonly_api, anon, settings, tmp_path, version):
    settings.ARTIFACT_ROOT = str(tmp_path)

    assert put(readonly_api, "a.bin", b"a").status_code == 403
    assert put(anon, "a.bin", b"a").status_code == 401
    bad_name = put(api, ".hidden", b"a")
    assert bad_name.status_code == 400 and bad_name.json()["errors"][0]["parameter"] == "filename"
    assert (
        api.put(BASE, data=b"abc", content_type="application/octet-stream").json()["errors"][0]["code"]
        == "multipart_required"
    )
    assert api.get(f"{BASE}/nope.bin").status_code == 404
    assert (
        api.put(
            "/api/v1/models/llama2-7b-chat/versions/9.9.9/artifacts/a.bin",
            data=b"a",
            content_type="application/octet-stream",
        ).status_code
        == 404
    )
    garbled = api.put(BASE, data=b"--x\r\nnonsense", content_type="multipart/form-data; boundary=x")
    assert garbled.status_code in (400, 201) and garbled.status_code != 500
    assert not list(tmp_path.rglob("*.bin"))


def test_version_lists_fetch_stored_files_in_one_query(
    api, model_doc, django_assert_max_num_queries, settings, tmp_path
):
    settings.ARTIFACT_ROOT = str(tmp_path)
    model = register(Model, model_doc()).version.model
    for n in range(1, 6):
        register_version(model, model_doc(version=f"1.{n}.0"))
        put(api, "m.bin", b"m", base=f"/api/v1/models/llama2-7b-chat/versions/1.{n}.0/artifacts")

    with django_assert_max_num_queries(6):
        versions = api.get("/api/v1/models/llama2-7b-chat/versions").json()
    with django_assert_max_num_queries(6):
        models = api.get("/api/v1/models").json()

    assert sum(len(v["stored_artifacts"]) for v in versions["results"]) == 5
    assert len(models["results"][0]["stored_artifacts"]) == 1


def test_an_unannounced_short_body_keeps_nothing(settings, tmp_path, version):
    """A client that hangs up early: fewer bytes than Content-Length arrive."""
    from models_app.artifacts import upload

    settings.ARTIFACT_ROOT = str(tmp_path)
    with pytest.raises(upload.ArtifactMismatch, match="ended after 3 of the 10 bytes"):
        upload.store_files(version, [upload.Incoming("model.bin", io.BytesIO(b"abc"), 10)])
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
    assert not ArtifactFile.objects.exists()


def test_the_size_limit_also_holds_while_streaming_a_body_of_unannounced_length(backend, version, settings):
    """Multipart parts and chunked bodies have no trustworthy length up front: the reader stops at the limit."""
    from models_app.artifacts import upload

    settings.ARTIFACT_MAX_FILE_BYTES = 100
    with pytest.raises(upload.ArtifactTooLarge):
        upload.store_files(version, [upload.Incoming("model.bin", io.BytesIO(b"y" * 101))])
    assert backend.keys() == []
    assert not ArtifactFile.objects.exists()


def test_a_purge_that_cannot_reach_storage_raises_and_keeps_the_rows(api, s3_endpoint, s3_bucket, settings, version):
    use_s3(settings, s3_endpoint, s3_bucket)
    put(api, "model.bin", WEIGHTS)

    use_s3(settings, f"http://127.0.0.1:{free_port()}", s3_bucket)  # nothing listens there

    with pytest.raises(Exception, match="(?i)connect"):
        version.delete_stored_artifacts()

    assert version.artifact_files.count() == 1
    assert ModelVersion.objects.get(pk=version.pk).stored_artifacts[0]["filename"] == "model.bin"
