"""Artifacts through the client: streamed in bounded memory, digests computed on the way and checked against
the registry's, an upload cut mid-body restarted from its first byte, a download cut mid-file resumed with Range,
and bytes altered in transit caught. The cuts are made by a TCP proxy on 127.0.0.1 in front of gunicorn."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from tests.client.conftest import CuttingProxy, model_document

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "model.safetensors"
    with open(path, "wb") as handle:
        for _ in range(24):
            handle.write(os.urandom(MiB))
    return path


def client_through(proxy: CuttingProxy, api_key: str):
    from registry_client import RegistryClient, RetryPolicy

    return RegistryClient(proxy.url, api_key, timeout=20, retry=RetryPolicy(attempts=4, backoff=0.05))


def test_an_upload_cut_mid_body_is_restarted_and_its_digests_verified(registry_url, api_key, big_file):
    """A 24 MiB upload whose connection is dropped after 8 MiB: nothing is stored by the cut attempt, the client
    sends the file again from its first byte on a new connection, and the registry's SHA-256 and BLAKE3 equal the
    ones computed while streaming. Memory stays at a few chunks, far below the file's size."""
    declared = model_document(
        artifact={
            "bucket": "models",
            "path": "client-test-model/1.0.0/model.safetensors",
            "format": "safetensors",
            "size_bytes": big_file.stat().st_size,
            "checksum": "sha256:" + hashlib.sha256(big_file.read_bytes()).hexdigest(),
        }
    )
    proxy = CuttingProxy(registry_url, upload_after=8 * MiB)
    try:
        with client_through(proxy, api_key) as registry:
            registry.models.register(declared)
            progress = []
            tracemalloc.start()
            try:
                result = registry.models.upload(
                    "client-test-model", "1.0.0", big_file, progress=lambda done, total: progress.append(done)
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert proxy.cuts == 1 and result.attempts == 2
            assert 0 in progress[1:]  # the progress bar went back to zero for the restart
            expected = hashlib.sha256(big_file.read_bytes()).hexdigest()
            assert result.file["sha256"] == result.local["sha256"] == expected
            assert result.file["blake3"] == result.local["blake3"]
            assert result.file["size"] == 24 * MiB and result.file["sealed"] is True
            assert peak < 8 * MiB, f"the upload held {peak / MiB:.1f} MiB at its peak"

            listed = registry.models.artifacts("client-test-model", "1.0.0")
            assert [(f["filename"], f["sha256"]) for f in listed["files"]] == [("model.safetensors", expected)]
            assert (
                registry.models.artifact_info("client-test-model", "1.0.0", "model.safetensors")["sha256"] == expected
            )

            # Sending the same file again meets the sealed file: the digest says it is already there.
            again = registry.models.upload("client-test-model", "1.0.0", big_file)
            assert again.file["sha256"] == expected
    finally:
        proxy.close()


def test_a_download_cut_mid_file_resumes_with_range_and_checks_the_digest(
    registry, registry_url, api_key, big_file, tmp_path
):
    registry.models.register(model_document())
    registry.models.upload("client-test-model", "1.0.0", big_file)
    proxy = CuttingProxy(registry_url, download_after=10 * MiB)
    try:
        with client_through(proxy, api_key) as through:
            dest = tmp_path / "downloaded.safetensors"
            tracemalloc.start()
            try:
                result = through.models.download("client-test-model", "1.0.0", "model.safetensors", dest)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        proxy.close()
    assert proxy.cuts == 1 and result.resumed == 1
    assert peak < 8 * MiB, f"the download held {peak / MiB:.1f} MiB at its peak"
    assert dest.read_bytes() == big_file.read_bytes()
    assert result.local["sha256"] == result.expected["sha256"] == hashlib.sha256(big_file.read_bytes()).hexdigest()
    assert not (tmp_path / "downloaded.safetensors.part").exists()


def test_seal_then_a_new_file_is_a_conflict(registry, tmp_path):
    from registry_client import Conflict

    registry.models.register(model_document())
    config = tmp_path / "config.json"
    config.write_text('{"hidden_size": 4096}')
    uploaded = registry.models.upload("client-test-model", "1.0.0", config)
    assert uploaded.attempts == 1 and uploaded.file["sealed"] is False
    assert registry.models.seal("client-test-model", "1.0.0")["sealed"] is True
    other = tmp_path / "tokenizer.json"
    other.write_text("{}")
    with pytest.raises(Conflict) as sealed:
        registry.models.upload("client-test-model", "1.0.0", other)
    assert sealed.value.codes == ["sealed"]


def test_a_declared_digest_that_differs_is_refused_with_its_pointer(registry, tmp_path):
    from registry_client import InvalidRequest

    wrong = "sha256:" + "0" * 64
    registry.models.register(
        model_document(artifact={"bucket": "b", "path": "p/weights.bin", "format": "bin", "checksum": wrong})
    )
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"not the declared bytes")
    with pytest.raises(InvalidRequest) as mismatch:
        registry.models.upload("client-test-model", "1.0.0", weights)
    assert mismatch.value.codes == ["checksum_mismatch"]
    assert mismatch.value.errors[0].details["declared_at"] == "/artifact"


def test_bytes_altered_in_transit_fail_the_download_and_leave_no_file(
    registry, registry_url, api_key, big_file, tmp_path
):
    from registry_client import DigestMismatch

    registry.models.register(model_document())
    registry.models.upload("client-test-model", "1.0.0", big_file)
    proxy = CuttingProxy(registry_url, flip_after=5 * MiB)
    try:
        with client_through(proxy, api_key) as through, pytest.raises(DigestMismatch) as mismatch:
            through.models.download("client-test-model", "1.0.0", "model.safetensors", tmp_path / "copy.bin")
    finally:
        proxy.close()
    assert mismatch.value.expected["sha256"] != mismatch.value.actual["sha256"]
    assert list(tmp_path.glob("copy.bin*")) == []
