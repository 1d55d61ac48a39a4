import django_filters

from kernel.api.filtersets import VersionFilterSet
from policies_app.choices import Enforcement, PolicyType
from policies_app.models import PolicyVersion


class PolicyVersionFilterSet(VersionFilterSet):
    type = django_filters.ChoiceFilter(choices=PolicyType.choices, method="filter_type")
    enforcement = django_filters.ChoiceFilter(choices=Enforcement.choices, method="filter_enforcement")

    class Meta:
        model = PolicyVersion
        fields = ["type", "enforcement", "tag", "status", "search", "is_current"]

    def filter_type(self, queryset, name, value):
        return queryset.of_type(value)

    def filter_enforcement(self, queryset, name, value):
        return queryset.enforced(value)
