"""/health/ready tells the truth: the database (503 without it), the artifact storage reachable AND writable, on
the filesystem and on S3 (a real S3 API: moto's server), the cache and the broker (degraded, 200), each with its
latency; anonymous callers never see a host, port, path or exception text, staff do. Every probe sets
registry_readiness_check_up{check} for /metrics."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from tests.s3_server import free_port, s3_bucket, s3_client, s3_endpoint, use_s3  # noqa: F401,F811  (fixtures)
from tests.servers import gunicorn

pytestmark = pytest.mark.django_db


def files_under(root) -> list[str]:
    return [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]


def metric_line(client, check: str) -> str:
    text = client.get("/metrics").content.decode()
    return next(
        line for line in text.splitlines() if line.startswith(f'registry_readiness_check_up{{check="{check}"}}')
    )


def test_a_writable_filesystem_store_is_ready_with_every_latency_and_keeps_no_probe(anon, settings, tmp_path):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path / "store")

    response = anon.get("/health/ready")

    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok", body
    assert {"database", "storage"} <= set(body["checks"])
    assert all(check["status"] == "ok" and check["ms"] >= 0 for check in body["checks"].values())
    assert files_under(tmp_path / "store") == []  # written, read back and deleted
    assert metric_line(anon, "storage").endswith(" 1.0")


def test_a_store_that_cannot_be_written_is_degraded_and_named_only_to_staff(anon, admin_client, settings, tmp_path):
    (tmp_path / "not-a-folder").write_text("a file where the store's folder should be")
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path / "not-a-folder" / "store")

    response = anon.get("/health/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "degraded" and body["failing"] == ["storage"]
    assert set(body["checks"]["storage"]) == {"status", "ms"}  # no error text for anonymous callers
    assert str(tmp_path) not in response.content.decode() and "Error" not in response.content.decode()
    assert metric_line(anon, "storage").endswith(" 0.0")
    staff = admin_client.get("/health/ready").json()["checks"]["storage"]
    assert staff["status"] == "fail" and "NotADirectoryError" in staff["error"]


def test_s3_storage_is_probed_by_writing_and_fails_fast_and_quietly(anon, settings, s3_endpoint, s3_bucket):
    use_s3(settings, s3_endpoint, s3_bucket)
    body = anon.get("/health/ready").json()
    assert body["checks"]["storage"]["status"] == "ok", body
    assert s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0  # the probe is gone

    use_s3(settings, s3_endpoint, "no-such-bucket")  # reachable, but nothing can be written
    response = anon.get("/health/ready")
    assert (response.status_code, response.json()["failing"]) == (200, ["storage"])
    assert "no-such-bucket" not in response.content.decode()

    port = free_port()
    use_s3(settings, f"http://127.0.0.1:{port}", s3_bucket)  # nothing listens there
    started = time.monotonic()
    response = anon.get("/health/ready")
    assert time.monotonic() - started < 10  # one short attempt, not boto3's retries at upload timeouts
    assert (response.status_code, response.json()["failing"]) == (200, ["storage"])
    assert str(port) not in response.content.decode() and "127.0.0.1" not in response.content.decode()


@pytest.mark.postgres
def test_without_its_database_a_real_server_is_unready_and_says_so_in_metrics(tmp_path):
    port = free_port()  # nothing listens there
    env = {"DATABASE_URL": f"postgresql://registry:secret@127.0.0.1:{port}/registry", "ARTIFACT_ROOT": str(tmp_path)}
    with gunicorn(workers=1, env=env) as base:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/health/ready", timeout=30)
        text = refused.value.read().decode()
        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as reply:
            metrics = reply.read().decode()
    assert refused.value.code == 503, text
    answer = json.loads(text)
    # make test-replica: its replica is out of rotation too (no primary position to measure it by), and says so.
    assert answer["status"] == "fail" and answer["failing"] in (["database"], ["database", "replicas"])
    assert str(port) not in text and "secret" not in text and "registry:" not in text
    assert 'registry_readiness_check_up{check="database"} 0.0' in metrics
    assert 'registry_readiness_check_up{check="storage"} 1.0' in metrics
