from __future__ import annotations

from django.db import connection
from django.db.models import Q

from registry_project.definitions import VersionQuerySet


class ModelVersionQuerySet(VersionQuerySet):
    def with_capability(self, capability: str) -> ModelVersionQuerySet:
        return self.containing("spec__capabilities", capability)

    def search(self, text: str) -> ModelVersionQuerySet:
        """Free text over name, family and description: PostgreSQL full-text search plus substring matches on
        the name (so 'llama2' finds 'llama2-7b-chat'); substring matches only on SQLite."""
        text = text.strip()
        if not text:
            return self
        match = Q(model__name__icontains=text) | Q(model__family__iexact=text) | Q(description__icontains=text)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            vector = SearchVector("model__name", "model__family", "description", config="simple")
            return self.annotate(_search=vector).filter(match | Q(_search=SearchQuery(text, config="simple", search_type="websearch")))
        return self.filter(match)
