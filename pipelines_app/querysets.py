from __future__ import annotations

from kernel.choices import Lifecycle
from kernel.models.definitions import VersionQuerySet


class PipelineVersionQuerySet(VersionQuerySet):
    def using_model(self, name: str) -> PipelineVersionQuerySet:
        """Versions with a step that runs model ``name``, pinned to a version or not."""
        return self.containing("model_names", name)

    def referencing(self, reference: str) -> PipelineVersionQuerySet:
        """Versions with a step whose model reference is exactly ``reference``: ``name`` (unpinned) or
        ``name@1.2.0`` (canonical pin, without build metadata)."""
        return self.containing("model_refs", reference)

    def in_service(self) -> PipelineVersionQuerySet:
        """The versions that protect what they reference: active versions of pipelines not deleted."""
        return self.filter(status=Lifecycle.ACTIVE).of_alive()
