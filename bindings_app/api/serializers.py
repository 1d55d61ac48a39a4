from __future__ import annotations

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bindings_app.choices import BindingStatus
from bindings_app.models import MAX_LATENCY_SLO_MS, MAX_WEIGHT, REGION_PATTERN, SETTINGS_FIELDS, ProviderBinding
from bindings_app.querysets import WindowFigures
from kernel.api.views import SEMVER_REGEX
from kernel.exceptions import DefinitionNotFound
from kernel.models.aliases import ALIAS_PATTERN
from kernel.reads.lookups import lookup
from kernel.rules.names import NAME
from models_app.models import Model

_price = dict(max_digits=12, decimal_places=6, min_value=0, coerce_to_string=False)


@extend_schema_field(
    {"type": "object", "description": "Provider settings, checked against the provider's config schema."}
)
class ConfigField(serializers.JSONField):
    """A binding's ``config``: a JSON object (null is refused), which the schema says rather than "any JSON"."""


class ProviderBindingSerializer(serializers.ModelSerializer):
    """A binding as the API shows it: its settings, status (with the reason of the last move), lifetime counters
    and the window's live figures (``window``; "no data" below BINDING_SLO_MIN_SAMPLES reports).

    ``model`` and ``version`` (a number, ``latest`` or ``current``) name the version on creation; status moves
    through enable / disable and the SLO, so a write may only repeat the values it has."""

    # Written by name; shown (from the version) by to_representation.
    model = serializers.CharField(max_length=128, write_only=True)
    version = serializers.CharField(max_length=128, write_only=True)
    model_version_id = serializers.UUIDField(read_only=True)
    # DRF drops a model URLField's own validators (and would allow ftp): say http/https here.
    endpoint_url = serializers.URLField(max_length=2048, validators=[URLValidator(schemes=["http", "https"])])
    region = serializers.RegexField(rf"\A{REGION_PATTERN}\Z", max_length=64)
    status = serializers.ChoiceField(choices=BindingStatus.choices, required=False)
    weight = serializers.IntegerField(min_value=0, max_value=MAX_WEIGHT, required=False)
    config = ConfigField(required=False)
    cost_per_1k_input_tokens = serializers.DecimalField(**_price, required=False)
    cost_per_1k_output_tokens = serializers.DecimalField(**_price, required=False)
    slo_latency_p95_ms = serializers.IntegerField(
        min_value=1, max_value=MAX_LATENCY_SLO_MS, required=False, allow_null=True
    )
    slo_success_rate = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    success_rate = serializers.SerializerMethodField(help_text="Lifetime success rate; null with too few reports.")
    window = serializers.SerializerMethodField()

    class Meta:
        model = ProviderBinding
        fields = [
            "id",
            "model",
            "version",
            "model_version_id",
            *SETTINGS_FIELDS,
            "status",
            "status_reason",
            "status_changed_at",
            "request_count",
            "success_count",
            "success_rate",
            "input_tokens",
            "output_tokens",
            "last_report_at",
            "window",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status_reason",
            "status_changed_at",
            "request_count",
            "success_count",
            "input_tokens",
            "output_tokens",
            "last_report_at",
            "created_at",
            "updated_at",
        ]
        validators = []  # the unique placement is the model's to enforce (a 409, not a 400)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [serializers.ErrorDetail(f"Unknown field: {key}.", code="unknown_field")] for key in unknown}
                )
        return super().to_internal_value(data)

    def to_representation(self, binding):
        body = super().to_representation(binding)
        return {
            "id": body.pop("id"),
            "model": binding.model_version.model.name,
            "version": binding.model_version.version,
            **body,
        }

    def get_success_rate(self, binding) -> float | None:
        rate = binding.lifetime_success_rate
        return round(rate, 6) if rate is not None else None

    def get_window(self, binding) -> dict:
        figures = self.context.get("figures")
        found = figures.get(binding.pk) if figures is not None else binding.figures()
        return (found or WindowFigures()).as_dict()

    def validate(self, attrs):
        instance = self.instance
        if instance is None:
            try:
                attrs["model_version"] = lookup(Model, attrs.pop("model"), attrs.pop("version"))
            except DefinitionNotFound as exc:
                field = "model" if exc.path == "name" else "version"
                raise serializers.ValidationError(
                    {field: [serializers.ErrorDetail(exc.message, code="not_found")]}
                ) from None
            return attrs
        errors = {}
        for name, current in (
            ("model", instance.model_version.model.name),
            ("version", instance.model_version.version),
            ("status", instance.status),
        ):
            if name in attrs and attrs.pop(name) != current:
                errors[name] = [
                    serializers.ErrorDetail(
                        "A binding's version is fixed; create a binding for the other version."
                        if name != "status"
                        else "Status changes through the enable and disable actions (and the SLO).",
                        code="read_only",
                    )
                ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return ProviderBinding.deploy(validated_data.pop("model_version"), **validated_data)

    def update(self, instance, validated_data):
        return instance.change_settings(validated_data)


class ReportResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    binding = ProviderBindingSerializer()


class RouteQuerySerializer(serializers.Serializer):
    model = serializers.RegexField(rf"\A{NAME}\Z")
    version = serializers.RegexField(rf"\A(latest|current|{SEMVER_REGEX})\Z", max_length=128, required=False)
    alias = serializers.RegexField(rf"\A{ALIAS_PATTERN}\Z", required=False)
    region = serializers.RegexField(rf"\A{REGION_PATTERN}\Z", required=False)
    environment = serializers.ChoiceField(choices=["development", "staging", "production"], required=False)
    capability = serializers.RegexField(r"\A[a-z0-9][a-z0-9._:-]{0,63}\Z", required=False)
    sort = serializers.ChoiceField(choices=["balanced", "latency", "cost", "success"], default="balanced")
    # Any precision: a bound is compared with six-decimal prices, never stored.
    max_cost = serializers.DecimalField(
        None, None, coerce_to_string=False, min_value=0, max_value=10**6, required=False
    )

    def validate(self, attrs):
        if "version" in attrs and "alias" in attrs:
            raise serializers.ValidationError({"alias": ["Give version or alias, not both."]})
        return attrs

    @property
    def version_ref(self) -> str:
        data = self.validated_data
        if "alias" in data:
            return f"@{data['alias']}"
        return data.get("version") or "current"
