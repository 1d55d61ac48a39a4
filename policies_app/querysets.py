from __future__ import annotations

from django.db import connection
from django.db.models import Case, OuterRef, Q, Subquery, Value, When

from registry_project.definitions import Lifecycle, VersionQuerySet


class PolicyVersionQuerySet(VersionQuerySet):
    def of_type(self, policy_type: str) -> PolicyVersionQuerySet:
        return self.filter(spec__type=policy_type)

    def enforced(self, enforcement: str) -> PolicyVersionQuerySet:
        # A spec registered without "enforcement" is stored with the default filled in (PolicyVersion.split_document).
        return self.filter(spec__enforcement=enforcement)

    def in_force(self) -> PolicyVersionQuerySet:
        """The one version per live policy that evaluation uses: its current version, or, when none is current,
        its latest active version (highest release; a prerelease only when no active release exists)."""
        parent_model = self.model._meta.get_field(self.model.parent_field).related_model
        chosen = (
            self.model.objects.filter(policy=OuterRef("pk"), status=Lifecycle.ACTIVE)
            .order_by("-is_current", Case(When(prerelease="", then=Value(0)), default=Value(1)), "-major", "-minor", "-patch", "-prerelease_key")
            .values("pk")[:1]
        )
        return self.filter(pk__in=parent_model.objects.alive().annotate(in_force_id=Subquery(chosen)).values("in_force_id"))

