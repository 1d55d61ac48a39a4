from __future__ import annotations


from registry_project.definitions import VersionQuerySet


class ModelVersionQuerySet(VersionQuerySet):
    search_fields = ("model__family", "description")

    def with_capability(self, capability: str) -> ModelVersionQuerySet:
        return self.containing("spec__capabilities", capability)

