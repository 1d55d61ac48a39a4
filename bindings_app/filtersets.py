from __future__ import annotations

import re

import django_filters
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.utils import extend_schema_field

from bindings_app.choices import BindingStatus, Environment, Provider
from bindings_app.models import REGION_PATTERN, ProviderBinding
from kernel.api.errors import QueryParameterInvalid
from kernel.api.views import SEMVER_PATTERN
from kernel.rules.semver import InvalidVersion, parse_version
from models_app.filtersets import ModelVersionFilterSet

MAX_PRICE = 10**6
REGION_SCHEMA = {"type": "string", "pattern": rf"^{REGION_PATTERN}\Z"}


def _region(value: str) -> str:
    if not re.fullmatch(REGION_PATTERN, value):
        raise QueryParameterInvalid({"region": ["A region is a lowercase slug such as 'eu-west-1'."]})
    return value


class BindingFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model_version__model__name", max_length=128)
    version = django_filters.CharFilter(method="filter_version", max_length=128)
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    status = django_filters.ChoiceFilter(choices=BindingStatus.choices)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    region = django_filters.CharFilter(method="filter_region", max_length=64)
    min_success_rate = django_filters.NumberFilter(
        method="filter_min_success_rate",
        min_value=0,
        max_value=1,
        help_text="Lifetime success rate at least this (0-1); bindings with fewer than BINDING_SLO_MIN_SAMPLES reports never match.",
    )
    max_cost = django_filters.NumberFilter(
        method="filter_max_cost",
        min_value=0,
        max_value=MAX_PRICE,
        help_text="Blended price per 1k tokens (mean of input and output prices) at most this.",
    )

    class Meta:
        model = ProviderBinding
        fields = ["model", "version", "provider", "status", "environment", "region", "min_success_rate", "max_cost"]

    @extend_schema_field({"type": "string", "pattern": SEMVER_PATTERN})
    def filter_version(self, queryset, name, value):
        try:
            identity = parse_version(value).identity()
        except InvalidVersion as exc:
            raise QueryParameterInvalid({"version": [str(exc)]}) from None
        return queryset.filter(**{f"model_version__{k}": v for k, v in identity.items()})

    @extend_schema_field(REGION_SCHEMA)
    def filter_region(self, queryset, name, value):
        return queryset.filter(region=_region(value))

    def filter_min_success_rate(self, queryset, name, value):
        return queryset.with_success_rate_at_least(float(value))

    def filter_max_cost(self, queryset, name, value):
        return queryset.costing_at_most(value)


class GatewayVersionFilterSet(ModelVersionFilterSet):
    """The gateway's version list across models. ``min_eval_score`` and ``max_cost`` compare a version's own
    ``eval_score`` and ``cost_per_1k_tokens`` (top-level document fields); a version without one never passes
    a bound. ``region`` matches the version's ``region`` or the region of one of its bindings in service."""

    region = django_filters.CharFilter(method="filter_region", max_length=64)
    min_eval_score = django_filters.NumberFilter(method="filter_min_eval_score", min_value=0, max_value=1)
    max_cost = django_filters.NumberFilter(method="filter_max_cost", min_value=0, max_value=MAX_PRICE)

    class Meta(ModelVersionFilterSet.Meta):
        fields = [*ModelVersionFilterSet.Meta.fields, "region", "min_eval_score", "max_cost"]

    @extend_schema_field(REGION_SCHEMA)
    def filter_region(self, queryset, name, value):
        bound_there = ProviderBinding.objects.in_service().filter(model_version=OuterRef("pk"), region=_region(value))
        return queryset.filter(Q(spec__region=value) | Q(Exists(bound_there)))

    def filter_min_eval_score(self, queryset, name, value):
        return queryset.filter(spec__eval_score__gte=float(value))

    def filter_max_cost(self, queryset, name, value):
        return queryset.filter(spec__cost_per_1k_tokens__lte=float(value))
