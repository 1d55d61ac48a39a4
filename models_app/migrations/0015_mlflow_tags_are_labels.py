"""Registered models' MLflow tags become their labels (issue #28): each tag that is a label (key and value
lowercase slugs, at most 64 characters, at most 32 labels) moves from ``mlflow_tags`` into ``labels``; a label
already set under that key keeps its value. A tag that cannot be a label stays in ``mlflow_tags``, still shown to
MLflow's client (nothing is lost; it can be deleted or replaced by a label). Each model changed gets a
``model.updated`` change-log entry with both fields' before and after (written here, so no webhook event: the
tags MLflow's client sees do not change)."""

import re

from django.db import migrations, models
from django.utils import timezone

# Frozen copies of kernel.documents.shape's label rules at the time of this migration.
LABEL_KEY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
LABEL_VALUE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_LABELS = 32
ACTOR = "migration:models_app.0015"


def tags_to_labels(apps, schema_editor):
    Model = apps.get_model("models_app", "Model")
    ChangeLogEntry = apps.get_model("registry_project", "ChangeLogEntry")
    entries = []
    for model in Model.objects.exclude(mlflow_tags={}).exclude(mlflow_tags=None).iterator(chunk_size=500):
        labels = dict(model.labels or {})
        kept = {}
        for key, value in sorted(model.mlflow_tags.items()):
            fits = (
                isinstance(value, str) and len(key) <= 64 and LABEL_KEY.fullmatch(key) and LABEL_VALUE.fullmatch(value)
            )
            if fits and labels.get(key, value) == value and (key in labels or len(labels) < MAX_LABELS):
                labels[key] = value
            else:
                kept[key] = value
        if kept == model.mlflow_tags:
            continue
        changes = {"labels": [model.labels or None, labels or None], "mlflow_tags": [model.mlflow_tags, kept]}
        Model.objects.filter(pk=model.pk).update(labels=labels or None, mlflow_tags=kept)
        entries.append(
            ChangeLogEntry(
                at=timezone.now(),
                actor=ACTOR,
                action="model.updated",
                kind="model",
                name=model.name,
                object_id=str(model.pk),
                changes=changes,
            )
        )
    ChangeLogEntry.objects.bulk_create(entries, batch_size=500)


def labels_to_tags(apps, schema_editor):
    """Backwards: every label shows as an MLflow tag again from ``mlflow_tags`` (the labels stay labels)."""
    Model = apps.get_model("models_app", "Model")
    for model in Model.objects.exclude(labels=None).iterator(chunk_size=500):
        Model.objects.filter(pk=model.pk).update(mlflow_tags={**(model.mlflow_tags or {}), **model.labels})


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0014_classification"),
        ("registry_project", "0014_webhook_lane_queued_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="model",
            name="mlflow_tags",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text="MLflow tags set before tags were labels that could not be labels (key -> value).",
            ),
        ),
        migrations.RunPython(tags_to_labels, labels_to_tags),
    ]
