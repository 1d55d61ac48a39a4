"""``/api/v1/retention/*``: thin callers of ``Model.objects.apply_retention`` and ``retention_outlook``."""

from __future__ import annotations

from pathlib import Path

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from kernel import stats
from kernel.api.filtersets import StrictQueryParameters
from kernel.api.schema import inline_defs
from kernel.api.stats import REFRESH_PARAMETER, snapshot_for
from kernel.api.views import BodyRequiredMixin
from kernel.exceptions import DefinitionNotFound
from kernel.rules.validation import DocumentInvalid, DocumentValidator
from models_app.models import Model, ModelVersion, RetentionTotals

retention_request_validator = DocumentValidator(
    "retention request", Path(__file__).resolve().parent.parent / "schemas" / "retention_request.json"
)

_version_item = {
    "type": "object",
    "required": ["id", "name", "version"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "version": {"type": "string"},
    },
}
_counts = {"type": "object", "additionalProperties": {"type": "integer"}}
REPORT_SCHEMA = {
    "type": "object",
    "required": ["dry_run", "keep", "counts", "archived", "protected", "purged", "purge_failed", "truncated"],
    "properties": {
        "dry_run": {"type": "boolean"},
        "keep": {"type": ["integer", "null"]},
        "counts": {**_counts, "description": "archived, protected, purged, purge_failed, models: complete counts."},
        "archived": {"type": "array", "items": _version_item},
        "protected": {
            "type": "array",
            "items": {
                **_version_item,
                "properties": {
                    **_version_item["properties"],
                    "reasons": {"type": "array", "items": {"type": "string"}},
                },
            },
            "description": "Versions past `keep` that were kept, with why (current version, the pipelines or bindings using them).",
        },
        "purged": {"type": "array", "items": _version_item},
        "purge_failed": {
            "type": "array",
            "items": {**_version_item, "properties": {**_version_item["properties"], "error": {"type": "string"}}},
        },
        "truncated": {"type": "boolean", "description": "The lists hold at most 100 items each; counts are complete."},
    },
}
OUTLOOK_SCHEMA = {
    "type": "object",
    "required": ["versions_by_tier", "next_run", "next_run_as_of", "totals"],
    "properties": {
        "versions_by_tier": _counts,
        "next_run": {
            **_counts,
            "description": "What a run would do (as of `next_run_as_of`): would_archive, would_keep_current, would_keep_protected, would_purge.",
        },
        "next_run_as_of": {
            "type": "string",
            "format": "date-time",
            "description": "When the statistics snapshot that holds `next_run` was refreshed.",
        },
        "totals": {"type": "object", "description": "What retention has done so far, and its last run."},
    },
}


class StaffOnly(exceptions.PermissionDenied):
    default_detail = "Only staff may apply retention."


class RetentionViewSet(StrictQueryParameters, BodyRequiredMixin, viewsets.GenericViewSet):
    """Retention: archive old model versions, purge long-archived ones."""

    # A run archives and purges: it takes explicit options (``{}`` for the defaults), never a missing body.
    body_required_actions = ("apply",)
    query_parameters = {"stats": ("refresh",)}
    extra_error_statuses = {"apply": (404,)}  # the body's `model` names no model
    # A run archives and purges model versions (RegistryAccess); it is staff's besides (``apply``).
    permission_verbs = {"apply": "delete"}

    def permission_model(self, verb: str):
        return ModelVersion

    def get_queryset(self):
        return Model.objects.none()

    @action(detail=False, methods=["post"])
    def apply(self, request):
        """Apply retention now (staff only): what was archived and purged (with `dry_run`, what would be) and
        why each version past `keep` was kept."""
        if not request.user.is_staff:
            raise StaffOnly()
        body = request.data
        report = retention_request_validator.check(body)
        if report.errors:
            raise DocumentInvalid(report.errors)
        models = Model.objects.all()
        if "model" in body:
            found = Model.objects.alive().filter(name=body["model"]).first()
            if found is None:
                raise DefinitionNotFound(f"No model named {body['model']!r}.", path="/model")
            models = models.filter(pk=found.pk)
        result = models.apply_retention(keep=body.get("keep"), dry_run=body.get("dry_run", False))
        return Response(result.as_dict())

    @extend_schema(parameters=[REFRESH_PARAMETER])
    @action(detail=False, methods=["get"])
    def stats(self, request):
        """Versions per storage tier (now), what the next run would do (as of `next_run_as_of`: the statistics
        snapshot, refreshed on a schedule; staff may ask for a fresh one with `?refresh=true`), and what retention
        has done so far."""
        from kernel.stats import count_by

        snapshot = snapshot_for(request)
        next_run = snapshot.data.get("models", {}).get("retention", {}).get("next_run")
        if next_run is None:  # a snapshot stored before it carried the outlook
            snapshot = stats.refresh()
            next_run = snapshot.data["models"]["retention"]["next_run"]
        totals = RetentionTotals.current()
        return Response(
            {
                "versions_by_tier": count_by(ModelVersion.objects.of_alive(), "storage_tier"),
                "next_run": next_run,
                "next_run_as_of": snapshot.refreshed_at.isoformat(),
                "totals": {
                    "archived": totals.archived,
                    "purged": totals.purged,
                    "purge_failures": totals.purge_failures,
                    "runs": totals.runs,
                    "last_run_at": totals.last_run_at.isoformat() if totals.last_run_at else None,
                    "last_run": totals.last_run,
                },
            }
        )

    def openapi_request(self, schema):
        if self.action == "apply":
            return schema.component("RetentionRequest", inline_defs(retention_request_validator.schema))
        return None

    def openapi_responses(self, schema):
        if self.action == "apply":
            return {200: schema.component("RetentionReport", REPORT_SCHEMA)}
        return {200: schema.component("RetentionStats", OUTLOOK_SCHEMA)}
