"""The model registry's part of the statistics snapshot (see ``kernel.stats``)."""

from __future__ import annotations

from django.db.models import Count, FloatField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kernel.stats import count_by

SECTION = "models"


def registry_stats() -> dict:
    from models_app.models import ArtifactFile, Model, ModelVersion, RetentionTotals

    versions = ModelVersion.objects.of_alive().order_by()
    by_status, by_tier, artifact_bytes = {}, {}, {}
    # One pass over the versions: counts by status and tier, and the declared artifact bytes per tier.
    rows = versions.values("status", "storage_tier").annotate(
        n=Count("pk"),
        current=Count("pk", filter=Q(is_current=True)),
        # Through a float: JSON Schema's integer includes 119.0, which a document may carry and a bigint cast refuses.
        size=Sum(Cast(KT("spec__artifact__size_bytes"), FloatField())),
    )
    current = 0
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        by_tier[row["storage_tier"]] = by_tier.get(row["storage_tier"], 0) + row["n"]
        artifact_bytes[row["storage_tier"]] = artifact_bytes.get(row["storage_tier"], 0) + int(row["size"] or 0)
        current += row["current"]
    # The bytes actually stored (uploaded artifact files), by the tier each file sits in: one query.
    stored = ArtifactFile.objects.filter(version__in=versions.values("pk")).order_by().values("storage_tier")
    stored_files, stored_bytes = {}, {}
    for row in stored.annotate(n=Count("pk"), size=Sum("size")):
        stored_files[row["storage_tier"]] = row["n"]
        stored_bytes[row["storage_tier"]] = row["size"] or 0
    totals = RetentionTotals.current()
    return {
        "kind": Model.kind,
        "total": Model.objects.alive().count(),
        "by_family": count_by(Model.objects.alive(), "family"),
        "versions_by_status": by_status,
        "versions_by_tier": by_tier,
        "current_versions": current,
        "artifact_bytes_by_tier": artifact_bytes,
        "stored_artifact_files_by_tier": stored_files,
        "stored_artifact_bytes_by_tier": stored_bytes,
        "retention": {
            "archived_total": totals.archived,
            "purged_total": totals.purged,
            "purge_failures_total": totals.purge_failures,
            "runs": totals.runs,
            "last_run_at": totals.last_run_at.isoformat() if totals.last_run_at else None,
            # What a run would do now (``/api/v1/retention/stats`` serves it from here, as of the snapshot): a
            # window over every version is too slow to compute per request at a million versions.
            "next_run": Model.objects.retention_outlook(),
        },
    }


def registry_metrics(section: dict):
    models = GaugeMetricFamily(
        "registry_models_total", "Live models, by family (from the stats snapshot).", labels=["family"]
    )
    for family, n in sorted(section.get("by_family", {}).items()):
        models.add_metric([family], n)
    versions = GaugeMetricFamily(
        "registry_model_versions_total", "Versions of live models, by lifecycle status.", labels=["status"]
    )
    for status, n in sorted(section.get("versions_by_status", {}).items()):
        versions.add_metric([status], n)
    tiers = GaugeMetricFamily(
        "registry_model_versions_by_tier", "Versions of live models, by storage tier.", labels=["tier"]
    )
    for tier, n in sorted(section.get("versions_by_tier", {}).items()):
        tiers.add_metric([tier], n)
    stored = GaugeMetricFamily(
        "registry_artifact_bytes", "Bytes of stored artifact files of live models, by storage tier.", labels=["tier"]
    )
    for tier, n in sorted(section.get("stored_artifact_bytes_by_tier", {}).items()):
        stored.add_metric([tier], n)
    retention = section.get("retention", {})
    archived = CounterMetricFamily(
        "registry_retention_archived", "Versions archived by retention since the registry began."
    )
    archived.add_metric([], retention.get("archived_total", 0))
    purged = CounterMetricFamily(
        "registry_retention_purged", "Archived versions purged (artifacts deleted) by retention."
    )
    purged.add_metric([], retention.get("purged_total", 0))
    return [models, versions, tiers, stored, archived, purged]
