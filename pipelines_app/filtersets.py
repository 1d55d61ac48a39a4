import django_filters

from kernel.api.filtersets import VersionFilterSet
from pipelines_app.models import PipelineVersion


class PipelineVersionFilterSet(VersionFilterSet):
    model = django_filters.CharFilter(
        method="filter_model", max_length=128, help_text="Pipelines with a step that runs this model."
    )

    class Meta:
        model = PipelineVersion
        fields = ["tag", "status", "model", "search", "is_current"]

    def filter_model(self, queryset, name, value):
        return queryset.using_model(value)
