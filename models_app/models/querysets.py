from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber

from kernel.choices import Lifecycle
from kernel.models.definitions import DefinitionQuerySet, VersionQuerySet

if TYPE_CHECKING:
    from models_app.retention import RetentionReport


class ModelQuerySet(DefinitionQuerySet):
    def apply_retention(
        self,
        *,
        keep: int | None = None,
        dry_run: bool = False,
        purge: bool = True,
        report_limit: int | None = 100,
        progress=None,
    ) -> RetentionReport:
        """Retention over these models (every live one for ``Model.objects``), set-based: archive releases beyond
        the newest ``keep`` (default: each model's ``retention_keep``, else ``RETENTION_KEEP``), never the current
        version nor one a guard protects, then purge archived versions older than ``RETENTION_PURGE_AFTER_DAYS``.
        Idempotent and safe to run twice at once. See ``models_app.retention``."""
        from models_app.retention import Retention

        return Retention(self, keep=keep, dry_run=dry_run, report_limit=report_limit, progress=progress).run(
            purge=purge
        )

    def retention_outlook(self, *, keep: int | None = None) -> dict:
        """What the next run would do, in counts (a dry run without the lists)."""
        from models_app.retention import Retention

        return Retention(self, keep=keep, dry_run=True, report_limit=0).outlook()

    def with_retention_keep(self, keep: int | None = None) -> ModelQuerySet:
        """Annotate ``_keep`` (how many live releases retention keeps: ``keep``, else the model's
        ``retention_keep``, else ``RETENTION_KEEP``) and ``_live`` (how many it has): a model has work for
        retention exactly when ``_live > _keep``. The count reads the ``models_app_version_live`` partial index
        (index only, once vacuumed), a few entries per model."""
        from models_app.models import ModelVersion

        live = (
            ModelVersion.objects.filter(model=OuterRef("pk"))
            .live_releases()
            .order_by()
            .values("model")
            .annotate(n=Count("*"))
            .values("n")
        )
        return self.annotate(
            _keep=Value(keep) if keep is not None else Coalesce(F("retention_keep"), Value(settings.RETENTION_KEEP)),
            _live=Coalesce(Subquery(live, output_field=IntegerField()), Value(0)),
        )


class ModelVersionQuerySet(VersionQuerySet):
    search_fields = ("model__family", "description")

    # A model document shows derived_from (the parent's model and version): join them into the list queries
    # rather than asking once per row.
    def with_parent(self) -> ModelVersionQuerySet:
        return super().with_parent().select_related("derived_from__model")

    def newest_first(self) -> ModelVersionQuerySet:
        return super().newest_first().select_related("derived_from__model")

    def with_capability(self, capability: str) -> ModelVersionQuerySet:
        return self.containing("spec__capabilities", capability)

    def live_releases(self) -> ModelVersionQuerySet:
        """Unarchived releases (no prerelease): what retention counts against ``keep``. The partial index
        ``models_app_version_live`` (``ModelVersion.Meta``) holds exactly these rows, newest first per model."""
        return self.filter(prerelease="").exclude(status=Lifecycle.ARCHIVED)

    def beyond_retention(self, keep: int | None = None) -> ModelVersionQuerySet:
        """Unarchived releases ranked (newest first, per model) past their model's ``keep``: what retention
        archives unless a version is current or guarded. One window function over the rows, no loop per model.
        Prereleases are neither counted nor archived (they are candidates in flight, below every release).
        Call it on versions filtered by model only, so each model's ranking sees all its versions."""
        return self.model.objects.filter(pk__in=self.ranked_beyond_retention(keep).values("pk"))

    def ranked_beyond_retention(self, keep: int | None = None) -> ModelVersionQuerySet:
        """``beyond_retention`` as the window query itself (cheaper to read rows from; it cannot be filtered or
        annotated further)."""
        limit = (
            Value(keep) if keep is not None else Coalesce(F("model__retention_keep"), Value(settings.RETENTION_KEEP))
        )
        return (
            self.live_releases()
            .annotate(
                _rank=Window(
                    RowNumber(),
                    partition_by=[F("model_id")],
                    order_by=[F("major").desc(), F("minor").desc(), F("patch").desc()],
                ),
                _keep=limit,
            )
            .filter(_rank__gt=F("_keep"))
        )
