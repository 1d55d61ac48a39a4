from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.utils import timezone

from models_app import lineage
from models_app.choices import StorageTier
from models_app.querysets import ModelQuerySet, ModelVersionQuerySet
from models_app.artifacts import ArtifactFile, delete_stored  # noqa: F401  (ArtifactFile: registers the model)
from models_app.artifacts import FILE_SCHEMA
from models_app.validation import CHECKSUM_PLACEHOLDER, model_validator
from kernel.choices import Lifecycle
from kernel.documents.shape import DocumentField, api_timestamp
from kernel.documents.sql import APITimestamp, OrderedJSONObject
from kernel.models.definitions import Definition, DefinitionVersion, version_pointer
from kernel.rules.latest import NEWEST_FIRST

MAX_RETENTION_KEEP = 10


class Model(Definition):
    """A registered AI model: identity, family and retention setting shared by all its versions."""

    kind = "model"
    validator = model_validator
    parent_fields = ("family", "retention_keep", "metric_directions")
    write_functions = {"register": "models_app_model_register_v1", "activate": "models_app_model_activate_v1"}  # migration 0012

    family = models.CharField(max_length=64, blank=True, default="", db_index=True)
    retention_keep = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_KEEP)],
        help_text="Retention keeps this many newest unarchived releases (1-10); empty uses the RETENTION_KEEP setting.",
    )
    metric_directions = models.JSONField(
        null=True, blank=True, help_text="Per-metric 'higher'/'lower' is better, overriding METRICS_LOWER_IS_BETTER."
    )

    latest_version = version_pointer("ModelVersion", "latest")
    current_version = version_pointer("ModelVersion", "current")

    objects = ModelQuerySet.as_manager()

    class Meta(Definition.Meta):
        constraints = [
            *Definition.Meta.constraints,
            models.CheckConstraint(
                condition=Q(retention_keep__isnull=True) | Q(retention_keep__gte=1, retention_keep__lte=MAX_RETENTION_KEEP),
                name="%(app_label)s_%(class)s_retention_keep_range",
            ),
        ]

    def apply_retention(self, keep: int | None = None, *, dry_run: bool = False) -> list[ModelVersion]:
        """Archive this model's releases beyond the newest ``keep`` (default: ``retention_keep``, else the
        ``RETENTION_KEEP`` setting), never the current version nor one a guard protects. Returns the versions
        archived (or that would be). The set-based ``Model.objects.apply_retention`` does the work."""
        report = type(self).objects.filter(pk=self.pk).apply_retention(keep=keep, dry_run=dry_run, purge=False, report_limit=None)
        ids = [item["id"] for item in report.archived]
        return list(self.versions.filter(pk__in=ids).newest_first())


class ModelVersion(DefinitionVersion):
    parent_field = "model"

    # No index of its own: the unique (model, major, minor, patch, prerelease) index leads with it and serves every
    # lookup by model; a second one only made each write (retention archives rows by the million) cost more.
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions", db_index=False)
    # Lineage (models_app/lineage.py): the version this one improves on, held by its immutable id so that a
    # rename never breaks the link; set once at registration, like the spec.
    derived_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="derivatives", editable=False)
    relation = models.CharField(max_length=16, blank=True, default="", editable=False)
    deltas = models.JSONField(default=dict, blank=True, editable=False, help_text="Metric deltas against derived_from.")
    lineage_depth = models.PositiveIntegerField(default=0, editable=False, help_text="Ancestors up to the baseline.")
    storage_tier = models.CharField(max_length=8, choices=StorageTier.choices, default=StorageTier.HOT)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="When the version was archived (moved to cold).")
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention deleted its artifacts; the row is then a tombstone."
    )
    artifacts_sealed_at = models.DateTimeField(
        null=True, blank=True, help_text="Once set, no stored file of this version may be added or replaced."
    )
    # The document's ``stored_artifacts``, rewritten with every change to this version's ArtifactFile rows (in the
    # same transaction), so reading a document costs no query beyond the version's own.
    stored_artifacts = models.JSONField(default=list, blank=True, editable=False)

    document_extras = (
        # The lineage link, rendered with today's model name; registrable (the model's JSON Schema describes it).
        DocumentField(
            "derived_from", value=lineage.derived_from_link, server_managed=False,
            # JSON typed: left out only when NULL (no link), as derived_from_link answers None.
            sql=Case(
                When(derived_from__isnull=True, then=None),
                default=OrderedJSONObject(
                    {"model": "derived_from__model__name", "version": "derived_from__version", "relation": "relation"}
                ),
                output_field=models.JSONField(),
            ),
        ),
        # The digests the registry computed, beside the declared artifact.checksum, and where the version's bytes
        # live (hot, cold or purged). Sent back, they are ignored.
        DocumentField(
            "stored_artifacts", value=lambda version: version.stored_artifacts, sql="stored_artifacts",
            schema={"type": "array", "items": FILE_SCHEMA, "readOnly": True}, required=False,
        ),
        DocumentField(
            "storage_tier", value=lambda version: version.storage_tier, sql="storage_tier", required=False,
            schema={"type": "string", "enum": ["hot", "cold", "purged"], "readOnly": True},
        ),
        DocumentField(
            "archived_at", value=lambda version: api_timestamp(version.archived_at), sql=APITimestamp("archived_at"),
            schema={"type": ["string", "null"], "format": "date-time", "readOnly": True}, required=False,
        ),
        DocumentField(
            "purged_at", value=lambda version: api_timestamp(version.purged_at), sql=APITimestamp("purged_at"),
            schema={"type": ["string", "null"], "format": "date-time", "readOnly": True}, required=False,
        ),
    )

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = [
            *DefinitionVersion.constraints_for("model"),
            *lineage.constraints(),
            models.CheckConstraint(
                condition=Q(purged_at__isnull=True) | Q(status=Lifecycle.ARCHIVED, storage_tier=StorageTier.PURGED),
                name="%(app_label)s_%(class)s_purged_is_archived",
            ),
        ]
        indexes = [
            # Retention's purge looks for archived versions past the grace period that still hold artifacts.
            models.Index(
                fields=["archived_at"],
                condition=Q(archived_at__isnull=False, purged_at__isnull=True),
                name="models_app_version_purge_due",
            ),
            # Retention's reads (models_app.retention): the live releases of each model, newest first, and only
            # those (``ModelVersionQuerySet.live_releases``). Counting a model's entries says whether it has a
            # release past ``keep`` (a few entries per model, index only once vacuumed), and ``OFFSET keep``
            # over them finds the candidates without ranking every version. An archived row leaves the index,
            # so it stays ~keep entries per model after a run, and archiving adds no entry to it.
            models.Index(
                fields=["model", "-major", "-minor", "-patch"],
                condition=Q(prerelease="") & ~Q(status=Lifecycle.ARCHIVED),
                name="models_app_version_live",
            ),
        ]

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        spec, mutable = super().split_document(document)
        return lineage.normalised_spec(spec), mutable

    def on_registered(self, document: dict) -> None:
        lineage.record_lineage(self, document)

    @classmethod
    def registers_in_one_statement(cls, document: dict) -> bool:
        """record_lineage does nothing for a version without contributors or a parent."""
        return not document.get("contributors") and not document.get("derived_from")

    def on_archived(self) -> None:
        """An archived version moves to the cold tier; retention purges it later."""
        if self.archived_at is None:
            now = timezone.now()
            type(self).objects.filter(pk=self.pk, archived_at__isnull=True).update(
                archived_at=now, storage_tier=StorageTier.COLD
            )
            self.archived_at, self.storage_tier = now, StorageTier.COLD

    @property
    def is_tombstone(self) -> bool:
        return self.purged_at is not None

    def delete_stored_artifacts(self) -> None:
        """Delete every file stored for this version (retention's purge calls this before it makes the row a
        tombstone). Raises on any failure, leaving the caller to keep the row archived and report it."""
        delete_stored(self)

    def is_same_registration(self, document: dict) -> bool:
        """Registering this version again with the same artifact digest is a retry, answered with this version.
        The specification's placeholder checksum (``sha256:...``) names no content, so it never matches."""
        artifact = document.get("artifact")
        checksum = artifact.get("checksum") if isinstance(artifact, dict) else None
        if not isinstance(checksum, str) or not checksum or checksum == CHECKSUM_PLACEHOLDER:
            return False
        if self.purged_at is not None:
            return False  # a tombstone keeps its number and checksum, but nothing is served: never a retry
        if checksum == self.spec.get("artifact", {}).get("checksum"):
            return True
        algorithm, _, digest = checksum.partition(":")
        return algorithm == "sha256" and self.artifact_files.filter(sha256=digest).exists()



class RetentionTotals(models.Model):
    """Running totals of what retention did, one row, updated with ``F()`` in each batch's transaction: the
    ``registry_retention_*_total`` counters and ``/api/v1/retention/stats`` read them, whichever process ran."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    archived = models.BigIntegerField(default=0)
    purged = models.BigIntegerField(default=0)
    purge_failures = models.BigIntegerField(default=0)
    runs = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.JSONField(default=dict, blank=True, help_text="Counts of the last completed run.")

    class Meta:
        verbose_name_plural = "retention totals"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="%(app_label)s_%(class)s_single_row")]

    @classmethod
    def add(cls, **increments: int) -> None:
        """Add to the totals in the caller's transaction (a row lock, never a read-modify-write in Python)."""
        changes = {name: F(name) + value for name, value in increments.items() if value}
        if changes and not cls.objects.filter(pk=1).update(**changes):
            cls.objects.get_or_create(pk=1)
            cls.objects.filter(pk=1).update(**changes)

    @classmethod
    def finish_run(cls, summary: dict) -> None:
        cls.objects.get_or_create(pk=1)
        cls.objects.filter(pk=1).update(runs=F("runs") + 1, last_run_at=timezone.now(), last_run=summary)

    @classmethod
    def current(cls) -> RetentionTotals:
        return cls.objects.filter(pk=1).first() or cls()



from models_app.attestations import Attestation  # noqa: E402,F401  (ORM models kept beside their logic)
from models_app.lineage import Contribution  # noqa: E402,F401
