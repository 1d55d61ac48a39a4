from __future__ import annotations

from django.db import connection
from django.db.models import Q

from registry_project.definitions import Lifecycle, VersionQuerySet


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

    def search(self, text: str) -> PipelineVersionQuerySet:
        """Free text over the pipeline's name and the description: PostgreSQL full-text search plus substring
        matches on the name; substring matches only on SQLite."""
        text = text.strip()
        if not text:
            return self
        match = Q(pipeline__name__icontains=text) | Q(description__icontains=text)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            vector = SearchVector("pipeline__name", "description", config="simple")
            return self.annotate(_search=vector).filter(match | Q(_search=SearchQuery(text, config="simple", search_type="websearch")))
        return self.filter(match)
