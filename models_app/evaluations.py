"""Evaluation results that arrive after a version is registered: ``evaluate`` appends a record, ``records`` reads
them back, newest first.

A record is a change-log entry (``model.evaluated``), written in the transaction that applies it, so the audit
trail, the webhook event and the list of evaluations are one row, never three that could disagree. Its
``changes`` carry the record as sent (``evaluation``) beside the document fields it moved, each with both values.

The version's document shows the latest value of each metric: a record's metrics are merged into the spec's
``metrics`` (a metric it does not name keeps its earlier value, the registration's values counting as the first
evaluation) and its ``eval_score``, if any, becomes the version's ``eval_score``, so the filters
(``min_eval_score``), routing and exports read the latest values where they always read them, and lineage's deltas
(this version's against its parent, its derivatives' against it) are computed again from them. What was registered
as the version's artifact, runtime and requirements never changes, and attestations stay as issued (a version
that now improves on its parent and has none is issued one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from kernel.models import changelog
from kernel.models.changelog import ChangeLogEntry
from kernel.rules.validation import DocumentInvalid, Issue, SchemaValidator
from models_app.lineage.record import refresh_deltas
from models_app.models import Model, ModelVersion
from registry_project.logs import log_write

EVALUATED = "model.evaluated"
RECORD_KEY = "evaluation"
MAX_METRICS = 64  # the model document's metrics.maxProperties

evaluation_validator = SchemaValidator("evaluation", Path(__file__).resolve().parent / "schemas" / "evaluation.json")


def evaluate(version: ModelVersion, body: Any) -> tuple[ModelVersion, dict]:
    """Append an evaluation record to ``version`` and show its metrics in the document. Returns the updated
    version and the record as ``records`` lists it."""
    report = evaluation_validator.check(body)
    if report.errors:
        raise DocumentInvalid(report.errors)
    record = {key: body[key] for key in ("metrics", "dataset", "notes") if key in body}
    with transaction.atomic():
        # The model's row lock orders this write with the other writes of its versions (update, lifecycle).
        model = Model.objects.select_for_update().get(pk=version.model_id)
        version = ModelVersion.objects.get(pk=version.pk)
        version.model = model
        before = version.document()
        spec = dict(version.spec)
        spec["metrics"] = {**(spec.get("metrics") or {}), **record["metrics"]}
        if len(spec["metrics"]) > MAX_METRICS:
            message = f"A version holds at most {MAX_METRICS} metrics; with these it would hold {len(spec['metrics'])}."
            raise DocumentInvalid([Issue("/metrics", "too_many_metrics", message)])
        if "eval_score" in record["metrics"]:
            spec["eval_score"] = record["metrics"]["eval_score"]
        version.spec = spec
        version.save(update_fields=["spec", "updated_at"])
        refresh_deltas(version)
        version.record(EVALUATED, {**changelog.diff(before, version.document()), RECORD_KEY: record})
        model.announce_change()
        log_write("evaluated", model, version.version)
        entry = records(version).first()
    return version, as_record(entry)


def records(version: ModelVersion):
    """The version's evaluation records as change-log entries, newest first (a queryset, for a paginator)."""
    return ChangeLogEntry.objects.filter(
        kind=Model.kind, name=version.model.name, action=EVALUATED, object_id=str(version.pk)
    ).order_by("-id")


def as_record(entry: ChangeLogEntry) -> dict:
    """One evaluation record as the API answers it."""
    return {"id": entry.id, "at": entry.as_dict()["at"], "actor": entry.actor, **entry.changes[RECORD_KEY]}
