from django.contrib import admin

from kernel.admin.base import DefinitionAdmin, DefinitionVersionAdmin, VersionInline
from models_app.admin_artifacts import ArtifactAdminMixin
from models_app.lineage.picture import delta_table, lineage_svg
from models_app.models import Model, ModelVersion


class ModelVersionInline(VersionInline):
    model = ModelVersion


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
    inlines = [ModelVersionInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(ArtifactAdminMixin, DefinitionVersionAdmin):
    list_display = ("__str__", "family", "status", "is_current", "created_at")
    list_filter = ("status", "is_current", "model__family", *DefinitionVersionAdmin.list_filter[2:])
    readonly_fields = (*DefinitionVersionAdmin.readonly_fields, "lineage_picture", "lineage_deltas", "stored_files")
    fieldsets = (
        *DefinitionVersionAdmin.fieldsets[:2],
        ("Lineage", {"fields": ("lineage_picture", "lineage_deltas")}),
        *DefinitionVersionAdmin.fieldsets[2:],
        ArtifactAdminMixin.artifact_fieldset,
    )

    @admin.display(description="lineage")
    def lineage_picture(self, obj):
        return lineage_svg(obj)

    @admin.display(description="deltas")
    def lineage_deltas(self, obj):
        return delta_table(obj)

    @admin.display(description="family", ordering="model__family")
    def family(self, obj):
        return obj.model.family
