"""Model and ModelVersion: fields, constraints, the document's extra fields and the hooks the kernel calls.

Nothing here imports the app's behaviour (``models_app.lineage``, ``artifacts``, ``attestations``, ``retention``,
``validation``) at module level: those import the models. A hook that needs one imports it inside the method.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.utils import timezone
from django.utils.functional import classproperty

from kernel.choices import Lifecycle
from kernel.documents.shape import DocumentField, api_timestamp
from kernel.documents.sql import APITimestamp, OrderedJSONObject
from kernel.models.definitions import Definition, DefinitionVersion, version_pointer
from kernel.rules.latest import NEWEST_FIRST
from kernel.rules.validation import DocumentValidator
from models_app.choices import StorageTier
from models_app.models.artifact_files import FILE_SCHEMA
from models_app.models.querysets import ModelQuerySet, ModelVersionQuerySet

MAX_RETENTION_KEEP = 10
# The specification's examples carry placeholder checksums: "sha256:...", or the schema registry's "sha256:abc123...",
# a few hex digits and a trailing "...". They name no content: they register with a warning (models_app.validation)
# and an upload is not checked against them (models_app.artifacts.upload).
CHECKSUM_PLACEHOLDER = "sha256:..."


def is_checksum_placeholder(checksum: object) -> bool:
    return isinstance(checksum, str) and checksum.startswith("sha256:") and checksum.endswith("...")


def both_placeholders(*documents: dict) -> bool:
    """Whether every document's artifact checksum is a placeholder."""
    return all(
        isinstance(doc.get("artifact"), dict) and is_checksum_placeholder(doc["artifact"].get("checksum"))
        for doc in documents
    )


class Model(Definition):
    """A registered AI model: identity, family and retention setting shared by all its versions."""

    kind = "model"
    parent_fields = ("family", "retention_keep", "metric_directions", "task", *Definition.parent_fields)
    write_functions = {
        "register": "models_app_model_register_v1",
        "activate": "models_app_model_activate_v1",
    }  # migration 0012

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

    # Classification (issue #27): what the model does, from a documented vocabulary (the Hugging Face pipeline tags,
    # models_app/schemas/model.json), filtered by ?task=; with the labels every definition has.
    task = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # MLflow's registered-model tags (key -> value), set through the MLflow-compatible API
    # (models_app/mlflow_api/): MLflow's tags are arbitrary text, this registry's ``tags`` are slugs.
    mlflow_tags = models.JSONField(
        default=dict, blank=True, editable=False, help_text="MLflow's registered-model tags (key -> value)."
    )

    latest_version = version_pointer("ModelVersion", "latest")
    current_version = version_pointer("ModelVersion", "current")

    objects = ModelQuerySet.as_manager()

    @classproperty
    def validator(cls) -> DocumentValidator:
        # The model document's rules look versions up (lineage's derived_from), so they import the models; read
        # on first use, the models import no rule. (Model.validator, as Definition declares it.)
        from models_app.validation import model_validator

        return model_validator

    class Meta(Definition.Meta):
        constraints = [
            *Definition.Meta.constraints,
            models.CheckConstraint(
                condition=Q(retention_keep__isnull=True)
                | Q(retention_keep__gte=1, retention_keep__lte=MAX_RETENTION_KEEP),
                name="%(app_label)s_%(class)s_retention_keep_range",
            ),
        ]

    def apply_retention(self, keep: int | None = None, *, dry_run: bool = False) -> list[ModelVersion]:
        """Archive this model's releases beyond the newest ``keep`` (default: ``retention_keep``, else the
        ``RETENTION_KEEP`` setting), never the current version nor one a guard protects. Returns the versions
        archived (or that would be). The set-based ``Model.objects.apply_retention`` does the work."""
        report = (
            type(self)
            .objects.filter(pk=self.pk)
            .apply_retention(keep=keep, dry_run=dry_run, purge=False, report_limit=None)
        )
        ids = [item["id"] for item in report.archived]
        return list(self.versions.filter(pk__in=ids).newest_first())


def lineage_constraints() -> list[models.BaseConstraint]:
    """ModelVersion's lineage invariants (see models_app.lineage), listed in its Meta."""
    return [
        models.CheckConstraint(
            condition=~Q(derived_from=F("id")), name="%(app_label)s_%(class)s_not_derived_from_itself"
        ),
        models.CheckConstraint(
            condition=Q(derived_from__isnull=True, relation="", lineage_depth=0)
            | (Q(derived_from__isnull=False, lineage_depth__gt=0) & ~Q(relation="")),
            name="%(app_label)s_%(class)s_lineage_complete",
        ),
    ]


def derived_from_link(version: ModelVersion) -> dict | None:
    """The document's ``derived_from``, rendered from the link (today's model name); None without a link."""
    if version.derived_from_id is None:
        return None
    parent = version.derived_from
    return {"model": parent.model.name, "version": parent.version, "relation": version.relation}


class ModelVersion(DefinitionVersion):
    parent_field = "model"
    # A version is priced and evaluated after it is registered (PATCH); what was registered (artifact, runtime,
    # requirements, metrics) never changes.
    operational_fields = ("eval_score", "cost_per_1k_tokens")

    # No index of its own: the unique (model, major, minor, patch, prerelease) index leads with it and serves every
    # lookup by model; a second one only made each write (retention archives rows by the million) cost more.
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions", db_index=False)
    # Lineage (models_app/lineage/): the version this one improves on, held by its immutable id so that a
    # rename never breaks the link; set once at registration, like the spec.
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derivatives", editable=False
    )
    relation = models.CharField(max_length=16, blank=True, default="", editable=False)
    deltas = models.JSONField(default=dict, blank=True, editable=False, help_text="Metric deltas against derived_from.")
    lineage_depth = models.PositiveIntegerField(default=0, editable=False, help_text="Ancestors up to the baseline.")
    storage_tier = models.CharField(max_length=8, choices=StorageTier.choices, default=StorageTier.HOT)
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="When the version was archived (moved to cold)."
    )
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention deleted its artifacts; the row is then a tombstone."
    )
    artifacts_sealed_at = models.DateTimeField(
        null=True, blank=True, help_text="Once set, no stored file of this version may be added or replaced."
    )
    # The document's ``stored_artifacts``, rewritten with every change to this version's ArtifactFile rows (in the
    # same transaction), so reading a document costs no query beyond the version's own.
    stored_artifacts = models.JSONField(default=list, blank=True, editable=False)
    # MLflow numbers a model's versions 1, 2, 3 in registration order; this is that number, beside the semver
    # (models_app/mlflow_api/). The database assigns it on insert (migration 0013's trigger: one more than the
    # model's highest, under the model row's lock that every registration holds), whichever path inserts the row,
    # and a number is never reused: rows are never removed.
    mlflow_number = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="MLflow's version number: registration order per model."
    )

    document_extras = (
        # The lineage link, rendered with today's model name; registrable (the model's JSON Schema describes it).
        DocumentField(
            "derived_from",
            value=derived_from_link,
            server_managed=False,
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
            "stored_artifacts",
            value=lambda version: version.stored_artifacts,
            sql="stored_artifacts",
            schema={"type": "array", "items": FILE_SCHEMA, "readOnly": True},
            required=False,
        ),
        DocumentField(
            "storage_tier",
            value=lambda version: version.storage_tier,
            sql="storage_tier",
            required=False,
            schema={"type": "string", "enum": ["hot", "cold", "purged"], "readOnly": True},
        ),
        DocumentField(
            "archived_at",
            value=lambda version: api_timestamp(version.archived_at),
            sql=APITimestamp("archived_at"),
            schema={"type": ["string", "null"], "format": "date-time", "readOnly": True},
            required=False,
        ),
        DocumentField(
            "purged_at",
            value=lambda version: api_timestamp(version.purged_at),
            sql=APITimestamp("purged_at"),
            schema={"type": ["string", "null"], "format": "date-time", "readOnly": True},
            required=False,
        ),
    )

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = NEWEST_FIRST
        constraints = [
            *DefinitionVersion.constraints_for("model"),
            *lineage_constraints(),
            models.UniqueConstraint(fields=["model", "mlflow_number"], name="models_app_version_mlflow_number"),
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

    # The hooks below call behaviour that imports these models; each imports it when called, so that importing
    # the models pulls in none of it.

    @classmethod
    def split_document(cls, document: dict) -> tuple[dict, dict]:
        from models_app.lineage.record import normalised_spec

        spec, mutable = super().split_document(document)
        return normalised_spec(spec), mutable

    def on_registered(self, document: dict) -> None:
        from models_app.lineage.record import record_lineage

        record_lineage(self, document)

    @classmethod
    def registers_in_one_statement(cls, document: dict) -> bool:
        """record_lineage does nothing for a version without contributors or a parent."""
        return not document.get("contributors") and not document.get("derived_from")

    def derived_from_version(self) -> ModelVersion | None:
        if self.derived_from_id is None:
            return None
        return type(self).objects.select_related("model").with_aliases().get(pk=self.derived_from_id)

    def comparison(self, base: ModelVersion) -> dict:
        from models_app.lineage.compare import comparison

        return comparison(self, base)

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
        from models_app.artifacts.purge import delete_stored

        delete_stored(self)

    def registration_differences(self, document: dict, omitted: list[str]) -> list[str]:
        """The spec's differences (``DefinitionVersion.registration_differences``) and the lineage link's: the
        link is kept as a foreign key, so ``derived_from`` is compared by the version it resolves to."""
        from models_app.lineage.rules import resolve_parent

        differences = super().registration_differences(document, omitted)
        if "/artifact/checksum" in differences and both_placeholders(self.spec, document):
            # Two placeholders name no content, so neither contradicts the other: the specification's
            # "sha256:..." and the schema registry's "sha256:abc123..." register one version, the second a retry.
            differences.remove("/artifact/checksum")
        ref = document.get("derived_from")
        if ref:
            parent, _ = resolve_parent(ref, registering=self)
            same_link = parent is not None and parent.pk == self.derived_from_id and ref["relation"] == self.relation
        else:
            same_link = True
            if self.derived_from_id is not None:
                omitted.append("/derived_from")
        if not same_link:
            differences.append("/derived_from")
        return differences
