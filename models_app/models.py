from __future__ import annotations

from django.db import models, transaction

from models_app.artifacts import ArtifactFile, delete_stored  # noqa: F401  (ArtifactFile: registers the model)
from models_app.querysets import ModelVersionQuerySet
from models_app.validation import model_validator
from registry_project.exceptions import Conflict
from registry_project.definitions import Definition, DefinitionVersion, Lifecycle, NEWEST_FIRST


class Model(Definition):
    """A registered AI model: identity, family and retention setting shared by all its versions."""

    kind = "model"
    validator = model_validator
    parent_fields = ("family", "retention_keep")

    family = models.CharField(max_length=64, blank=True, default="", db_index=True)
    retention_keep = models.PositiveIntegerField(
        null=True, blank=True, help_text="Retention keeps this many newest non-current versions active; empty keeps all."
    )

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
    artifacts_sealed_at = models.DateTimeField(
        null=True, blank=True, help_text="Once set, no stored file of this version may be added or replaced."
    )
    # The document's ``stored_artifacts``, rewritten with every change to this version's ArtifactFile rows (in the
    # same transaction), so reading a document costs no query beyond the version's own.
    stored_artifacts = models.JSONField(default=list, blank=True, editable=False)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = DefinitionVersion.constraints_for("model")

    def delete_stored_artifacts(self) -> None:
        """Delete every file stored for this version (retention's purge calls this before it makes the row a
        tombstone). Raises on any failure, leaving the caller to keep the row archived and report it."""
        delete_stored(self)

    def is_same_registration(self, document: dict) -> bool:
        """Registering this version again with the same artifact digest is a retry, answered with this version."""
        artifact = document.get("artifact")
        checksum = artifact.get("checksum") if isinstance(artifact, dict) else None
        if not isinstance(checksum, str) or not checksum:
            return False
        if checksum == self.spec.get("artifact", {}).get("checksum"):
            return True
        algorithm, _, digest = checksum.partition(":")
        return algorithm == "sha256" and self.artifact_files.filter(sha256=digest).exists()
