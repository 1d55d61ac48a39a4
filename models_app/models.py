from __future__ import annotations

from django.db import models, transaction

from models_app.querysets import ModelVersionQuerySet
from models_app.validation import model_validator
from registry_project.exceptions import Conflict
from registry_project.definitions import Definition, DefinitionVersion, Lifecycle, NEWEST_FIRST, version_pointer


class Model(Definition):
    """A registered AI model: identity, family and retention setting shared by all its versions."""

    kind = "model"
    validator = model_validator
    parent_fields = ("family", "retention_keep")

    family = models.CharField(max_length=64, blank=True, default="", db_index=True)
    retention_keep = models.PositiveIntegerField(
        null=True, blank=True, help_text="Retention keeps this many newest non-current versions active; empty keeps all."
    )

    latest_version = version_pointer("ModelVersion", "latest")
    current_version = version_pointer("ModelVersion", "current")

    class Meta(Definition.Meta):
        pass

    def apply_retention(self, keep: int | None = None) -> list[ModelVersion]:
        """Archive releases beyond the newest ``keep`` (default: the model's ``retention_keep``) that are not
        current and not protected by a dependent (a pipeline, a binding). Returns the versions archived."""
        keep = keep if keep is not None else self.retention_keep
        if keep is None:
            return []
        archived = []
        with transaction.atomic():
            type(self).objects.select_for_update().get(pk=self.pk)
            live = self.versions.exclude(status=Lifecycle.ARCHIVED).filter(is_current=False).releases().order_by(*NEWEST_FIRST)
            for version in live[keep:]:
                version.model = self
                try:
                    archived.append(version.archive())
                except Conflict:  # a dependent still uses it: keep it
                    continue
        return archived


class ModelVersion(DefinitionVersion):
    parent_field = "model"

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions")

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = DefinitionVersion.constraints_for("model")

    def delete_stored_artifacts(self) -> None:
        """Delete every file stored for this version (retention's purge calls this before it makes the row a
        tombstone). Raises on any failure, leaving the caller to keep the row archived and report it.

        Hook until artifacts are stored by the registry (issue 13): there is nothing to delete yet."""
