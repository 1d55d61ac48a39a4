"""Every Celery task of the registry is idempotent under redelivery (docs/operations.md, "Every task, run twice"):
a broker hands a message out again when a worker dies before acknowledging it, or when a late-acknowledged task
outlives the visibility timeout. The list below is every task the Celery app knows (a new task fails the first
test until it is listed and documented); the tasks whose second run is not obviously harmless run twice here with
the same arguments, as a redelivered message would, and the second run changes nothing a user could see."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel import tasks as kernel_tasks
from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import WebhookDelivery, WebhookSubscription
from kernel.writes.register import register
from models_app import tasks as models_tasks
from models_app.models import ArtifactFile, Model
from registry_project.celery import app
from tests.kernel.test_webhooks import Receiver

ROOT = Path(__file__).resolve().parents[2]

# name -> acknowledged late (redelivered if the worker dies mid-run) or at the start.
REGISTRY_TASKS = {
    "models_app.tasks.apply_retention": True,
    "kernel.tasks.refresh_stats": True,
    "kernel.tasks.purge_idempotency_keys": True,
    "kernel.tasks.deliver_webhooks": False,
    "kernel.tasks.deliver_webhook_lane": False,
    "models_app.tasks.verify_artifacts": False,
    "kernel.tasks.backup_registry": False,
    "kernel.tasks.check_restore": False,
}


def test_every_task_is_listed_with_how_it_is_acknowledged_and_documented():
    app.loader.import_default_modules()
    assert {name: task.acks_late for name, task in app.tasks.items() if not name.startswith("celery.")} == (
        REGISTRY_TASKS
    )
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name in REGISTRY_TASKS:
        assert f"`{name}`" in operations, f"{name} is not in docs/operations.md's list"


@pytest.fixture
def loopback_receiver(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhook_tasks_run_twice_deliver_each_change_once(loopback_receiver, model_doc):
    subscription = WebhookSubscription.objects.create(url=loopback_receiver.url, events=["model.*"])
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        register(Model, model_doc(name="redelivered", version=version))

    for _ in range(2):  # the beat's relay message, delivered twice (its lane tasks run inline here)
        kernel_tasks.deliver_webhooks.apply().get()
    for _ in range(2):  # a lane message, delivered twice more
        kernel_tasks.deliver_webhook_lane.apply(args=(subscription.pk,)).get()

    ids = [headers["webhook-id"] for headers, _ in loopback_receiver.received]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [event["data"]["version"] for event in loopback_receiver.events()] == ["1.0.0", "1.1.0", "1.2.0"]
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 3


@pytest.mark.django_db
def test_verify_artifacts_run_twice_records_a_changed_file_once(api, llama_doc, settings, tmp_path):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    register(Model, llama_doc)
    base = f"/api/v1/models/{llama_doc['name']}/versions/{llama_doc['version']}/artifacts"
    assert api.put(f"{base}/model.bin", data=b"weights", content_type="application/octet-stream").status_code == 201
    (tmp_path / ArtifactFile.objects.get().storage_key).write_bytes(b"tampered")

    first = models_tasks.verify_artifacts.apply().get()
    second = models_tasks.verify_artifacts.apply().get()

    assert first["mismatch"] == second["mismatch"] == 1
    assert ChangeLogEntry.objects.filter(action="model.artifact_integrity_changed").count() == 1
