"""Bindings, the gateway's report and route calls, and its version list. Each verb calls a model or QuerySet
method; the rules live there."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from bindings_app.api.serializers import ProviderBindingSerializer, ReportResultSerializer, RouteQuerySerializer
from bindings_app.filtersets import BindingFilterSet, GatewayVersionFilterSet
from bindings_app.models import BindingSample, ProviderBinding
from bindings_app.routing import RouteCriteria
from bindings_app.validation import outcome_validator, parse_outcomes
from kernel.api.errors import QueryParameterInvalid
from kernel.api.filtersets import CHECKED_BY_HANDLER, StrictFilterBackend, StrictQueryParameters
from kernel.api.idempotency import idempotent
from kernel.api.schema import inline_defs
from kernel.api.serializers import DocumentSerializer
from kernel.api.views import AT_PARAM, NAME_PATH_PARAM, VERSION_PATH_PARAM, DefinitionViewSet, moment_param
from kernel.exceptions import DefinitionNotFound
from kernel.reads.lookups import lookup
from models_app.models import Model, ModelVersion

# The body POST .../report accepts is the schema parse_outcomes validates with (bindings_app/schemas/outcome.json).
OUTCOME = inline_defs(outcome_validator.schema)


class ProviderBindingViewSet(StrictQueryParameters, viewsets.ModelViewSet):
    """Provider bindings: which provider serves a model version where, and how well."""

    queryset = ProviderBinding.objects.with_version()
    serializer_class = ProviderBindingSerializer
    filterset_class = BindingFilterSet
    filter_backends = [StrictFilterBackend]
    query_parameters = {"list": CHECKED_BY_HANDLER, "of_version": CHECKED_BY_HANDLER, "retrieve": ("at",)}
    lookup_value_regex = r"[0-9]{1,18}"
    paginated_actions = ("of_version",)
    # Enabling, disabling and reporting outcomes change a binding (its status, its counters); RegistryAccess.
    permission_verbs = {"enable": "change", "disable": "change", "report": "change"}

    def paginated(self, queryset):
        page = self.paginate_queryset(queryset)
        figures = BindingSample.objects.figures([binding.pk for binding in page])
        return self.get_paginated_response(
            self.get_serializer(page, many=True, context={**self.get_serializer_context(), "figures": figures}).data
        )

    @extend_schema(
        parameters=[AT_PARAM],
        responses={
            200: PolymorphicProxySerializer(
                component_name="BindingOrStatusAt",
                resource_type_field_name=None,
                serializers=[
                    ProviderBindingSerializer,
                    inline_serializer(
                        "BindingStatusAt",
                        {
                            "id": serializers.IntegerField(),
                            "at": serializers.DateTimeField(),
                            "status": serializers.CharField(
                                allow_null=True, help_text="None: the binding did not exist then."
                            ),
                        },
                    ),
                ],
            )
        },
    )
    def retrieve(self, request, pk=None):
        """One binding; with `?at=`, only its status at that moment (from the change log), also for a binding
        deleted since."""
        if "at" not in request.query_params:
            return super().retrieve(request, pk=pk)
        moment = moment_param(request)
        known, status = ProviderBinding.status_at(int(pk), moment)
        if not known:
            raise DefinitionNotFound(f"No binding {pk}, now or in the change log.", code="not_found", path="id")
        return Response({"id": int(pk), "at": moment.isoformat().replace("+00:00", "Z"), "status": status})

    def list(self, request):
        """Bindings, filtered (model, version, provider, status, environment, region, min_success_rate, max_cost)."""
        return self.paginated(self.filter_queryset(self.get_queryset()))

    @extend_schema(parameters=[NAME_PATH_PARAM, VERSION_PATH_PARAM])
    def of_version(self, request, name: str, version: str):
        """A model version's bindings."""
        model_version = lookup(Model, name, version)
        return self.paginated(self.filter_queryset(self.get_queryset().filter(model_version=model_version)))

    def perform_destroy(self, instance):
        instance.remove()

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    @idempotent
    def enable(self, request, pk=None):
        """pending or disabled -> active: the version is deployed there (records `model.deployed`)."""
        return Response(self.get_serializer(self.get_object().enable()).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    @idempotent
    def disable(self, request, pk=None):
        """-> disabled: the router skips it, and the version may be archived again."""
        return Response(self.get_serializer(self.get_object().disable()).data)

    @extend_schema(
        request={
            "application/json": {
                "oneOf": [
                    OUTCOME,
                    {"type": "array", "items": OUTCOME, "minItems": 1, "maxItems": settings.BINDING_MAX_REPORT_BATCH},
                ]
            }
        },
        responses={200: ReportResultSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def report(self, request, pk=None):
        """One outcome or a batch of up to 1,000 from the gateway. Counters grow in the database; a binding that
        misses its SLO over the window (with enough samples) becomes degraded, and recovers the same way."""
        binding = self.get_object()
        outcomes = parse_outcomes(request.data)
        binding, figures = binding.report(outcomes)
        context = {**self.get_serializer_context(), "figures": {binding.pk: figures}}
        return Response(
            {"accepted": len(outcomes), "binding": ProviderBindingSerializer(binding, context=context).data}
        )


RouteCandidate = inline_serializer(
    "RouteCandidate",
    {
        "id": serializers.IntegerField(),
        "rank": serializers.IntegerField(allow_null=True),
        "score": serializers.FloatField(allow_null=True),
        "reasons": serializers.ListField(child=serializers.CharField()),
        "provider": serializers.CharField(),
        "provider_model_id": serializers.CharField(),
        "endpoint_url": serializers.CharField(),
        "region": serializers.CharField(),
        "environment": serializers.CharField(),
        "status": serializers.CharField(),
        "weight": serializers.IntegerField(),
        "cost_per_1k_tokens": serializers.FloatField(),
        "success_rate": serializers.FloatField(allow_null=True),
        "latency_p95_ms": serializers.FloatField(allow_null=True),
    },
).__class__


class RouteView(StrictQueryParameters, APIView):
    """The gateway's hot path: which binding to call now."""

    query_parameters = {"get": tuple(RouteQuerySerializer().fields)}

    extra_error_statuses = {"get": (404,)}  # no such model, or no such version of it

    @extend_schema(
        parameters=[RouteQuerySerializer],
        responses={
            200: inline_serializer(
                "Route",
                {
                    "model": serializers.CharField(),
                    "version": serializers.CharField(),
                    "sort": serializers.CharField(),
                    # chosen is null when every candidate is excluded
                    "chosen": RouteCandidate(allow_null=True),
                    "candidates": RouteCandidate(many=True),
                    # why chosen is null: no binding at all, or every one excluded
                    "reason": serializers.CharField(allow_null=True),
                },
            )
        },
    )
    def get(self, request):
        """Every binding of the version (default: the model's current one) ranked with its score and reasons;
        `chosen` is the best, or null when every candidate is excluded. Ties go to the lower binding id."""
        query = RouteQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise QueryParameterInvalid(query.errors)
        data = query.validated_data
        try:
            model_version = lookup(Model, data["model"], query.version_ref)
        except DefinitionNotFound as exc:
            # The lookup names its own arguments (`name`, `version`); here they are the query's `model` and
            # `version` (or `alias`).
            exc.path = {"name": "model", "version": "alias" if "alias" in data else "version"}.get(exc.path, exc.path)
            raise
        criteria = RouteCriteria(
            region=data.get("region"),
            environment=data.get("environment"),
            capability=data.get("capability"),
            sort=data["sort"],
            max_cost=data.get("max_cost"),
        )
        candidates = ProviderBinding.objects.route(model_version, criteria)
        rows = []
        for position, candidate in enumerate(candidates, start=1):
            binding, figures = candidate.binding, candidate.figures
            rows.append(
                {
                    "id": binding.pk,
                    "rank": None if candidate.excluded else position,
                    "score": candidate.score,
                    "reasons": candidate.reasons,
                    "provider": binding.provider,
                    "provider_model_id": binding.provider_model_id,
                    "endpoint_url": binding.endpoint_url,
                    "region": binding.region,
                    "environment": binding.environment,
                    "status": binding.status,
                    "weight": binding.weight,
                    "cost_per_1k_tokens": float(binding.blended_cost),
                    "success_rate": figures.as_dict()["success_rate"],
                    "latency_p95_ms": figures.as_dict()["latency_p95_ms"],
                }
            )
        chosen = rows[0] if rows and rows[0]["rank"] == 1 else None
        reason = None
        if not rows:
            reason = no_candidates_reason(model_version)
        elif chosen is None:
            reason = "Every binding of this version is excluded; each candidate's reasons say why."
        return Response(
            {
                "model": model_version.model.name,
                "version": model_version.version,
                "sort": criteria.sort,
                "chosen": chosen,
                "candidates": rows,
                "reason": reason,
            }
        )


def no_candidates_reason(model_version) -> str:
    """Why a version has no candidate at all: it has no binding, and which versions of the model have some."""
    served = list(
        ProviderBinding.objects.filter(model_version__model=model_version.model)
        .values_list("model_version__version", flat=True)
        .distinct()
        .order_by("model_version__version")[:20]
    )
    said = f"{model_version} has no provider binding"
    if served:
        return f"{said}; bindings of {model_version.model.name} serve {', '.join(served)} (ask for one with version=)."
    return f"{said}, nor does any other version of {model_version.model.name}."


class GatewayVersionViewSet(StrictQueryParameters, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Model versions across all models, for the gateway (region, min_eval_score, max_cost, capability, status,
    is_current), newest first within each model."""

    queryset = (
        ModelVersion.objects.of_alive()
        .with_parent()
        .with_aliases()
        .order_by("model__name", "-major", "-minor", "-patch", "-prerelease_key")
    )
    serializer_class = DocumentSerializer
    filterset_class = GatewayVersionFilterSet
    filter_backends = [StrictFilterBackend]
    query_parameters = {"list": CHECKED_BY_HANDLER}
    definition_model = Model

    def openapi_responses(self, schema):
        _, docs = DefinitionViewSet.document_schemas(self, schema)
        return {200: docs["plain"]}  # the paginator wraps this in {count, next, previous, results}
