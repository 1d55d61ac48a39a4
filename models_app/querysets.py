from __future__ import annotations


from registry_project.definitions import VersionQuerySet


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

