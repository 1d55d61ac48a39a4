"""Migration 0015: registered models' MLflow tags become their labels; what cannot be a label is kept (and still
shown to MLflow's client), and each model changed has a change-log entry. The migration's function is run on
today's models (its fields are the same)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from kernel.models import ApiKey
from kernel.models.changelog import ChangeLogEntry
from kernel.writes.register import register
from models_app.models import Model
from tests.mlflow_compat.conftest import v1_document

pytestmark = pytest.mark.django_db

migration = importlib.import_module("models_app.migrations.0015_mlflow_tags_are_labels")


def test_tags_that_are_labels_move_and_the_others_stay_shown(user):
    register(Model, v1_document("mixed", labels={"team": "cv"}))
    register(Model, v1_document("plain"))
    Model.objects.filter(name="mixed").update(
        mlflow_tags={"team": "nlp", "subject": "math", "Owner": "x", "note": "Data Science"}
    )
    Model.objects.filter(name="plain").update(mlflow_tags={"tier": "gold"})

    migration.tags_to_labels(apps, None)

    mixed, plain = Model.objects.get(name="mixed"), Model.objects.get(name="plain")
    # The label set through /api/v1 keeps its value; the MLflow tag of that key is kept beside it, not lost.
    assert mixed.labels == {"team": "cv", "subject": "math"}
    assert mixed.mlflow_tags == {"team": "nlp", "Owner": "x", "note": "Data Science"}
    assert (plain.labels, plain.mlflow_tags) == ({"tier": "gold"}, {})
    entry = ChangeLogEntry.objects.get(name="plain", action="model.updated")
    assert entry.changes == {"labels": [None, {"tier": "gold"}], "mlflow_tags": [{"tier": "gold"}, {}]}
    assert entry.actor == "migration:models_app.0015"

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.objects.issue(user)[1]}")
    shown = client.get("/api/2.0/mlflow/registered-models/get?name=mixed").json()["registered_model"]["tags"]
    assert {t["key"]: t["value"] for t in shown} == {
        "team": "cv",
        "subject": "math",
        "Owner": "x",
        "note": "Data Science",
    }
    # A kept tag is deleted like any other.
    deleted = client.delete(
        "/api/2.0/mlflow/registered-models/delete-tag", {"name": "mixed", "key": "Owner"}, format="json"
    )
    assert deleted.status_code == 200
    assert Model.objects.get(name="mixed").mlflow_tags == {"team": "nlp", "note": "Data Science"}
