from __future__ import annotations

from kernel.choices import Lifecycle
from kernel.models.definitions import VersionQuerySet
from kernel.rules.latest import latest_order


class PolicyVersionQuerySet(VersionQuerySet):
    def of_type(self, policy_type: str) -> PolicyVersionQuerySet:
        return self.filter(spec__type=policy_type)

    def enforced(self, enforcement: str) -> PolicyVersionQuerySet:
        # A spec registered without "enforcement" is stored with the default filled in (PolicyVersion.split_document).
        return self.filter(spec__enforcement=enforcement)

    def in_force(self) -> PolicyVersionQuerySet:
        """The one version per live policy that evaluation uses: its current version, or, when none is current,
        its latest active version (highest release; a prerelease only when no active release exists)."""
        return self.first_per_definition("-is_current", *latest_order(), status=Lifecycle.ACTIVE)
