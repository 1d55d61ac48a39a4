import django_filters

from kernel.api.filtersets import VersionFilterSet
from models_app.models import ModelVersion


class ModelVersionFilterSet(VersionFilterSet):
    family = django_filters.CharFilter(field_name="model__family", max_length=64)
    capability = django_filters.CharFilter(method="filter_capability", max_length=64)
    runtime = django_filters.CharFilter(field_name="spec__runtime__type", max_length=32)
    task = django_filters.CharFilter(field_name="model__task", max_length=64)

    class Meta:
        model = ModelVersion
        fields = ["family", "tag", "capability", "status", "search", "runtime", "is_current", "task", "label"]

    def filter_capability(self, queryset, name, value):
        return queryset.with_capability(value)
