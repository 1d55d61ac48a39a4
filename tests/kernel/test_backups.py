"""Scheduled backups: the export lands in the artifact storage (a real S3 API: moto's server; and the filesystem)
under a dated key with its size, digest and counts recorded, only the newest BACKUP_KEEP stay, and the job's
outcome reaches /metrics from the database. The restore check on a real worker and beat is in
tests/integration/test_backup_jobs.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import re

import pytest

from kernel import backup, backup_jobs
from kernel.models import Backup, ChangeLogEntry
from kernel.writes.register import register
from models_app.models import Model
from tests.s3_server import s3_bucket, s3_client, s3_endpoint, use_s3  # noqa: F401,F811  (fixtures)

pytestmark = pytest.mark.django_db

KEY = re.compile(r"_registry/backups/registry-\d{8}T\d{6}Z-[0-9a-f]{8}\.jsonl\.gz")


def metrics(client) -> str:
    return client.get("/metrics").content.decode()


def test_a_backup_lands_in_s3_under_a_dated_key_with_its_size_digest_and_counts(
    settings, model_doc, s3_endpoint, s3_bucket
):
    use_s3(settings, s3_endpoint, s3_bucket)
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(name="backed-up", version=version))

    taken = backup_jobs.take_backup()

    assert KEY.fullmatch(taken.key), taken.key
    stored = s3_client(s3_endpoint).get_object(Bucket=s3_bucket, Key=taken.key)["Body"].read()
    assert (len(stored), hashlib.sha256(stored).hexdigest()) == (taken.size_bytes, taken.sha256)
    backup.check_file(io.StringIO(gzip.decompress(stored).decode()))  # whole, and matches its trailer
    assert taken.counts["models"] == 3  # the definition and its two versions
    assert taken.census["rows"]["models_app.modelversion"] == 2
    assert taken.census["changes"]["count"] == ChangeLogEntry.objects.exclude(kind="backup").count()
    assert ChangeLogEntry.objects.filter(action="backup.taken", name=taken.key).exists()


def test_only_the_newest_backups_are_kept_in_storage_and_in_the_records(settings, tmp_path):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT, settings.BACKUP_KEEP = "filesystem", str(tmp_path), 2

    keys = [backup_jobs.take_backup().key for _ in range(3)]

    assert list(Backup.objects.values_list("key", flat=True)) == keys[:0:-1]  # newest first
    assert not (tmp_path / keys[0]).exists() and all((tmp_path / key).exists() for key in keys[1:])
    assert list(ChangeLogEntry.objects.filter(action="backup.deleted").values_list("name", flat=True)) == keys[:1]


def test_the_backup_jobs_outcome_reaches_metrics_from_the_database(anon, settings, tmp_path):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    taken = backup_jobs.backup_job()

    text = metrics(anon)
    assert f"registry_backup_size_bytes {float(taken.size_bytes)}" in text
    assert 'registry_job_last_success_timestamp_seconds{job_name="backup"}' in text
    assert 'registry_job_failures_total{job_name="backup"} 0.0' in text

    (tmp_path / "file").write_text("a file where the store's folder should be")
    settings.ARTIFACT_ROOT = str(tmp_path / "file" / "store")
    with pytest.raises(OSError):
        backup_jobs.backup_job()
    assert 'registry_job_failures_total{job_name="backup"} 1.0' in metrics(anon)
    assert 'registry_job_runs_total{job_name="backup"} 2.0' in metrics(anon)


def test_a_restored_copy_that_lacks_a_row_is_named_row_by_row(settings, tmp_path, model_doc):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    register(Model, model_doc(name="counted"))
    taken = backup_jobs.take_backup()
    census = {**taken.census, "rows": {**taken.census["rows"], "models_app.modelversion": 0}}
    restored = {"counts": taken.counts, "export_sha256": taken.export_sha256, "census": census}

    assert backup_jobs.differences(taken, restored) == ["models_app.modelversion: 0 rows restored, 1 when backed up"]
    assert backup_jobs.differences(taken, {**restored, "census": taken.census}) == []


def test_a_backup_changed_in_storage_fails_its_check_and_subscribers_hear_of_it(settings, tmp_path):
    from kernel.models import WebhookDelivery, WebhookSubscription
    from kernel.models.webhooks import relay_outbox

    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    subscription = WebhookSubscription.objects.create(url="https://hooks.example.com/ops", events=["backup.*"])
    taken = backup_jobs.take_backup()
    stored = tmp_path / taken.key
    stored.write_bytes(stored.read_bytes()[:-1])  # cut short by one byte

    with pytest.raises(backup_jobs.RestoreCheckFailed):
        backup_jobs.restore_check_job()

    taken.refresh_from_db()
    assert taken.check_ok is False and "the stored file is not the one written" in taken.check_problems[0]
    while relay_outbox():
        pass
    delivered = WebhookDelivery.objects.filter(subscription=subscription).values_list("entry__action", flat=True)
    assert "backup.restore_check_failed" in set(delivered)
