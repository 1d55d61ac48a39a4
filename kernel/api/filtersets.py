"""Filters every versioned kind shares; an app's FilterSet subclasses this and adds its own."""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ErrorDetail

from kernel.api.errors import QueryParameterInvalid
from kernel.choices import Lifecycle

ORDERINGS = ("name", "created_at", "updated_at", "version")


class UTCDateTimeField(IsoDateTimeField):
    """ISO 8601 datetimes, normalised to UTC here so no offset the database cannot represent reaches it."""

    def to_python(self, value):
        parsed = super().to_python(value)
        try:
            return parsed.astimezone(dt.UTC) if parsed is not None else None
        except (OverflowError, ValueError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class StrictBooleanField(forms.NullBooleanField):
    """true/false (also 1/0, yes/no, on/off); anything else is an error, not "no filter" as Django's field has it."""

    widget = forms.TextInput  # NullBooleanSelect would turn "maybe" into None before to_python sees it

    VALUES = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise ValidationError(f"'{str(value)[:40]}' is not a boolean; use true or false.", code="invalid") from None

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


def reject_unknown_parameters(request, known) -> None:
    """A query parameter the endpoint does not know is a 400 naming it, never silently ignored (a typo such as
    ``?stauts=active`` would otherwise return everything)."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        takes = f"this endpoint takes: {', '.join(sorted(known))}." if known else "this endpoint takes none."
        raise QueryParameterInvalid(
            {
                name[:64]: [ErrorDetail(f"Unknown query parameter; {takes}", code="unknown_parameter")]
                for name in unknown[:10]
            }
        )


# A `query_parameters` entry for an action whose GET handler checks its parameters itself, against its filter set
# (StrictFilterBackend, the change log's page, the stats snapshot); with any other method it takes none.
CHECKED_BY_HANDLER = object()


class StrictQueryParameters:
    """Every endpoint refuses query parameters it does not take (a 400 naming them), whatever the method: a typo
    such as ``?verison=1.2.0`` on a read, or ``?dry_run=true`` on a write, must not be silently ignored.

    ``query_parameters`` maps an action (viewsets) or a lower-case method (plain views) to the names it takes, the
    ones its OpenAPI operation declares; anything not listed takes none. tests/contract/test_query_parameters.py
    walks the schema and holds every operation to both halves: declared names accepted, others refused."""

    query_parameters: ClassVar[dict[str, object]] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.query_params or request.method == "OPTIONS":
            return
        if hasattr(self, "action_map"):
            key = getattr(self, "action", None)
        else:
            key = request.method.lower()
            if not hasattr(self, key) or key not in self.http_method_names:
                key = None
        if key is None:
            return  # a method this endpoint does not take: the 405 comes first
        known = self.query_parameters.get(key, ())
        if known is CHECKED_BY_HANDLER:
            if request.method in ("GET", "HEAD"):
                return
            known = ()
        reject_unknown_parameters(request, known)


def pagination_parameters(view) -> list[str]:
    paginator = getattr(view, "paginator", None)
    return [paginator.limit_query_param, paginator.offset_query_param] if paginator is not None else []


class StrictFilterBackend(DjangoFilterBackend):
    """Bad filter values are a 400 naming the query parameter, and so are parameters the endpoint does not take."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        reject_unknown_parameters(request, [*filterset.filters, *pagination_parameters(view)])
        if not filterset.is_valid():
            raise QueryParameterInvalid(filterset.errors)
        return filterset.qs


# Labels as kernel.documents.shape.LABELS_SCHEMA has them: a key's separators stand alone, so a key never holds "__"
# (a Django lookup separator) and one ORM key lookup per label answers on SQLite.
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


class VersionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    tag = django_filters.CharFilter(method="filter_tag", max_length=64)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    is_current = StrictBooleanFilter()
    ordering = django_filters.ChoiceFilter(
        method="filter_ordering",
        choices=[(o, o) for name in ORDERINGS for o in (name, f"-{name}")],
        help_text="Sort by name, created_at, updated_at or version; prefix '-' for descending.",
    )

    label = LabelFilter(method="filter_label", help_text="key:value, repeatable; every one must match.")

    def filter_label(self, queryset, name, value):
        labels = f"{queryset.model.parent_field}__labels"
        # One condition per selector, all of them to hold (a key asked with two values matches nothing).
        for key, item in (LABEL_SELECTOR.fullmatch(selector).groups() for selector in value):
            if connection.vendor == "postgresql":
                queryset = queryset.filter(**{f"{labels}__contains": {key: item}})  # each kind's GIN index
            else:
                queryset = queryset.filter(**{f"{labels}__{key}": item})  # SQLite: no containment operator
        return queryset

    def filter_tag(self, queryset, name, value):
        return queryset.tagged(value)

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_ordering(self, queryset, name, value):
        descending = value.startswith("-")
        key = value.lstrip("-")
        parent = queryset.model.parent_field
        columns = {
            "name": [f"{parent}__name"],
            "created_at": ["created_at"],
            "updated_at": ["updated_at"],
            "version": ["major", "minor", "patch", "prerelease_key"],
        }[key]
        return queryset.order_by(*(f"-{c}" if descending else c for c in columns), "pk")
