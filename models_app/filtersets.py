import re

import django_filters
from django import forms
from django.db import connection
from drf_spectacular.utils import extend_schema_field

from kernel.api.filtersets import VersionFilterSet
from models_app.models import ModelVersion

# As models_app/schemas/model.json has them: a key's separators stand alone, so a key never holds "__" (a Django
# lookup separator) and one ORM key lookup per label answers on SQLite.
LABEL_SELECTOR = re.compile(r"((?=[a-z0-9._-]{1,64}:)[a-z0-9]+(?:[._-][a-z0-9]+)*):([a-z0-9][a-z0-9._-]{0,63})")


class LabelSelectorsField(forms.Field):
    """Every ``?label=key:value`` of a query (the parameter may repeat), each checked."""

    widget = forms.MultipleHiddenInput  # reads every value of the parameter, not only the last

    def to_python(self, value):
        return [v for v in (value or []) if v != ""]

    def validate(self, value):
        if len(value) > 16:
            raise forms.ValidationError("At most 16 labels.")
        for selector in value:
            if not LABEL_SELECTOR.fullmatch(selector):
                raise forms.ValidationError("Each label is key:value, both lowercase slugs (e.g. subject:math).")


@extend_schema_field(
    {
        "type": "array",
        "maxItems": 16,
        "items": {"type": "string", "pattern": LABEL_SELECTOR.pattern.join("^$")},
        "description": "key:value, repeatable (?label=a:b&label=c:d); every one must match.",
    }
)
class LabelFilter(django_filters.Filter):
    field_class = LabelSelectorsField


class ModelVersionFilterSet(VersionFilterSet):
    family = django_filters.CharFilter(field_name="model__family", max_length=64)
    capability = django_filters.CharFilter(method="filter_capability", max_length=64)
    runtime = django_filters.CharFilter(field_name="spec__runtime__type", max_length=32)
    task = django_filters.CharFilter(field_name="model__task", max_length=64)
    label = LabelFilter(method="filter_label", help_text="key:value, repeatable; every one must match.")

    class Meta:
        model = ModelVersion
        fields = ["family", "tag", "capability", "status", "search", "runtime", "is_current", "task", "label"]

    def filter_capability(self, queryset, name, value):
        return queryset.with_capability(value)

    def filter_label(self, queryset, name, value):
        # One condition per selector, all of them to hold (a key asked with two values matches nothing).
        for key, item in (LABEL_SELECTOR.fullmatch(selector).groups() for selector in value):
            if connection.vendor == "postgresql":
                queryset = queryset.filter(model__labels__contains={key: item})  # GIN index (migration 0014)
            else:
                # SQLite has no containment operator: a key lookup (a key never holds "__").
                queryset = queryset.filter(**{f"model__labels__{key}": item})
        return queryset
