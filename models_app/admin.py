from collections import Counter

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from kernel.admin.base import DefinitionAdmin, DefinitionVersionAdmin
from kernel.admin.charts import sparkline
from models_app.admin_artifacts import ArtifactAdminMixin
from models_app.attestations.verify import problem_with_attestation
from models_app.lineage.deltas import direction_of
from models_app.lineage.picture import delta_table, lineage_svg
from models_app.models import Model, ModelVersion
from models_app.models.attestations import Attestation


@admin.register(Model)
class ModelAdmin(DefinitionAdmin):
    list_display = (
        "name",
        "family",
        "latest_version_number",
        "current_version_number",
        "latest_status",
        "version_count",
        "updated_at",
        "deleted_at",
    )
    list_filter = ("family", *DefinitionAdmin.list_filter)
    search_fields = ("name", "family")
    readonly_fields = (*DefinitionAdmin.readonly_fields,)
    fields = ("name", "family", "retention_keep", "owner", "created_at", "updated_at", "deleted_at")

    def version_columns(self, versions: list) -> list:
        return [(metric, lambda version, m=metric: metric_of(version, m)) for metric in key_metrics(versions)]

    def kind_sections(self, definition: Model, versions: list) -> list:
        charts = []
        for metric in key_metrics(versions):
            points = [(v.version, metric_of(v, metric)) for v in reversed(versions) if metric_of(v, metric) is not None]
            if points:
                charts.append((sparkline(metric, points, better=direction_of(metric, definition.metric_directions)),))
        if not charts:
            return []
        return [
            (
                "Key metrics across versions (oldest left)",
                format_html('<div class="metric-charts">{}</div>', format_html_join("", "{}", charts)),
            )
        ]


@admin.register(ModelVersion)
class ModelVersionAdmin(ArtifactAdminMixin, DefinitionVersionAdmin):
    list_display = ("__str__", "family", "status", "is_current", "created_at")
    list_filter = ("status", "is_current", "model__family", *DefinitionVersionAdmin.list_filter[2:])
    readonly_fields = (
        *DefinitionVersionAdmin.readonly_fields,
        "lineage_picture",
        "lineage_deltas",
        "attestation_status",
        "stored_files",
    )
    fieldsets = (
        *DefinitionVersionAdmin.fieldsets[:2],
        ("Lineage", {"fields": ("lineage_picture", "lineage_deltas", "attestation_status")}),
        *DefinitionVersionAdmin.fieldsets[2:],
        ArtifactAdminMixin.artifact_fieldset,
    )

    @admin.display(description="lineage")
    def lineage_picture(self, obj):
        return lineage_svg(obj)

    @admin.display(description="deltas")
    def lineage_deltas(self, obj):
        return delta_table(obj)

    @admin.display(description="attestation")
    def attestation_status(self, obj):
        found = Attestation.objects.filter(version=obj).first()
        if found is None:
            return (
                "None: one is issued when a version derived from another improves at least one metric "
                "(and a signing key is configured)."
            )
        problem = problem_with_attestation(found.envelope, found.key_id, obj)
        verdict = f"does not verify: {problem}" if problem else "verifies"
        return format_html(
            '<span class="attestation">Signed {} by key {}…; {}. <code>GET {}</code></span>',
            found.issued_at.strftime("%Y-%m-%d %H:%M UTC"),
            found.key_id[:12],
            verdict,
            f"/api/v1/models/{obj.model.name}/versions/{obj.version}/attestation",
        )

    @admin.display(description="family", ordering="model__family")
    def family(self, obj):
        return obj.model.family


KEY_METRICS = 4


def metric_of(version: ModelVersion, metric: str):
    value = (version.spec.get("metrics") or {}).get(metric)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def key_metrics(versions: list) -> list[str]:
    """The metrics most of the shown versions report (at most ``KEY_METRICS``), the most reported first."""
    counts = Counter(
        name
        for version in versions
        for name in (version.spec.get("metrics") or {})
        if metric_of(version, name) is not None
    )
    return [name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:KEY_METRICS]]
