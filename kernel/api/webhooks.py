"""``/api/v1/webhooks``: subscriptions (staff only), their deliveries, a test event and manual redelivery. The
secret is shown when a subscription is created or its secret rotated, never listed; the URL in full only to the
request that sets it (create, or a PATCH of ``url``), elsewhere (lists, the change log) with its credentials,
query values and fragment redacted, as a URL often carries a token."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from kernel.api.auth import RegistryAccess
from kernel.api.filtersets import StrictQueryParameters
from kernel.exceptions import DefinitionNotFound
from kernel.models.webhooks import (
    EVENT_PATTERN,
    MAX_EVENT_PATTERNS,
    URL_MAX_LENGTH,
    URL_PATTERN,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
    check_destination,
    redacted_url,
)

MAX_DELIVERIES_LISTED = 100
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

URL_SCHEMA = {
    "type": "string",
    "maxLength": URL_MAX_LENGTH,
    "pattern": rf"^(?:{URL_PATTERN.pattern})\Z",
    "description": "An http or https URL: a host name or an IP literal, an optional port, no spaces.",
}
EVENTS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_EVENT_PATTERNS,
    "items": {"type": "string", "maxLength": 64, "pattern": rf"^{EVENT_PATTERN.pattern}\Z"},
}
SUBSCRIPTION_PROPERTIES = {
    "id": {"type": "integer"},
    "url": URL_SCHEMA,
    "events": EVENTS_SCHEMA,
    "active": {"type": "boolean"},
    "description": {"type": "string", "maxLength": 200},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
}
SUBSCRIPTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": list(SUBSCRIPTION_PROPERTIES),
    "properties": SUBSCRIPTION_PROPERTIES,
}
SECRET_SCHEMA = {
    "type": "string",
    "pattern": "^whsec_[A-Za-z0-9+/=]+\\Z",
    "description": "The signing secret (Standard Webhooks), shown only here.",
}
SUBSCRIPTION_CREATED_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [*SUBSCRIPTION_PROPERTIES, "secret"],
    "properties": {**SUBSCRIPTION_PROPERTIES, "secret": SECRET_SCHEMA},
}
REQUEST_PROPERTIES = {
    "url": URL_SCHEMA,
    "events": EVENTS_SCHEMA,
    "active": {"type": "boolean"},
    "description": {"type": "string", "maxLength": 200},
}
# A client may send back what it was given; the registry generates the secret itself and shows it once.
SECRET_IGNORED = {
    "type": "string",
    "maxLength": 100,
    "description": "Ignored: the registry generates the secret and shows it once.",
}
DELIVERY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "event", "entry_id", "status", "attempts", "next_attempt_at", "last_error"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "event": {"type": ["string", "null"]},
        "entry_id": {"type": ["integer", "null"]},
        "status": {"type": "string", "enum": [choice.value for choice in DeliveryStatus]},
        "attempts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at", "status_code", "duration_ms", "error"],
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "status_code": {"type": ["integer", "null"], "minimum": 0},
                    "duration_ms": {"type": "integer", "minimum": 0},
                    "error": {"type": "string"},
                },
            },
        },
        "next_attempt_at": {"type": "string", "format": "date-time"},
        "last_error": {"type": "string"},
    },
}


class StaffOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.is_staff:
            raise PermissionDenied("Webhook subscriptions are managed by staff.")
        if getattr(request.auth, "read_only", False) and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise PermissionDenied("This API key is read-only; use a read-write key to change the registry.")
        return True


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would turn a number into its text, which the schema says is refused."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` only: DRF's BooleanField would also take "yes", "on", 1 and "1", which the schema refuses."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class SubscriptionSerializer(serializers.ModelSerializer):
    active = StrictBooleanField(required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    url = StrictCharField(
        max_length=URL_MAX_LENGTH,
        trim_whitespace=False,
        validators=[
            RegexValidator(
                rf"^(?:{URL_PATTERN.pattern})\Z",
                "Enter an http or https URL (a host name or an IP literal, no spaces).",
            )
        ],
    )
    events = serializers.ListField(
        child=StrictCharField(
            max_length=64,
            validators=[
                RegexValidator(
                    rf"^{EVENT_PATTERN.pattern}\Z",
                    "Not an event pattern; use 'model.version_activated', 'model.*' or '*'.",
                )
            ],
        ),
        min_length=1,
        max_length=MAX_EVENT_PATTERNS,
    )

    class Meta:
        model = WebhookSubscription
        fields = ("id", "url", "events", "active", "description", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields) - {"secret"})
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
            secret = data.get("secret")
            if "secret" in data and not (isinstance(secret, str) and len(secret) <= SECRET_IGNORED["maxLength"]):
                raise serializers.ValidationError(
                    {"secret": ["Ignored, but must be a string of at most 100 characters."]}
                )
        return super().to_internal_value(data)

    def to_representation(self, instance):
        return {**super().to_representation(instance), "url": redacted_url(instance.url)}

    def validate_url(self, value: str) -> str:
        check_destination(value)  # a Django ValidationError: DRF reports it at /url
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        bad = [pattern for pattern in value if not EVENT_PATTERN.fullmatch(pattern)]
        if bad:
            raise serializers.ValidationError(
                f"Not an event pattern: {bad[0][:64]!r}; use 'model.version_activated', 'model.*' or '*'."
            )
        return value


class WebhookViewSet(StrictQueryParameters, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Webhook subscriptions: the change log's entries, delivered signed (Standard Webhooks) and in order."""

    query_parameters = {"list": ("limit", "offset")}

    queryset = WebhookSubscription.objects.all()
    serializer_class = SubscriptionSerializer
    # Staff only, and each write needs its permission on subscriptions (RegistryAccess).
    permission_classes = [RegistryAccess, StaffOnly]
    permission_verbs = {"rotate_secret": "change", "test": "change", "redeliver": "change"}
    lookup_value_regex = r"[0-9]{1,18}"

    def openapi_request(self, schema):
        """The bodies create and PATCH accept, closed as the serializer is (any other field is a 400)."""
        if self.action == "create":
            return schema.component(
                "WebhookSubscriptionRequest",
                {
                    "type": "object",
                    "required": ["url", "events"],
                    "additionalProperties": False,
                    "properties": {**REQUEST_PROPERTIES, "secret": dict(SECRET_IGNORED)},
                },
            )
        if self.action == "partial_update":
            return schema.component(
                "PatchedWebhookSubscriptionRequest",
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {**REQUEST_PROPERTIES, "secret": dict(SECRET_IGNORED)},
                },
            )
        return None

    def openapi_responses(self, schema):
        subscription = schema.component("WebhookSubscription", SUBSCRIPTION_SCHEMA)
        delivery_ref = {
            "type": "object",
            "additionalProperties": False,
            "required": ["delivery"],
            "properties": {"delivery": {"type": "string", "format": "uuid"}},
        }
        return {
            "list": {200: subscription},  # the paginator wraps this in {count, next, previous, results}
            "retrieve": {200: subscription},
            "partial_update": {200: subscription},
            "create": {201: schema.component("WebhookSubscriptionCreated", SUBSCRIPTION_CREATED_SCHEMA)},
            "destroy": {204: None},
            "rotate_secret": {
                200: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "secret"],
                    "properties": {"id": {"type": "integer"}, "secret": SECRET_SCHEMA},
                }
            },
            "test": {202: delivery_ref},
            "deliveries": {
                200: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "maxItems": MAX_DELIVERIES_LISTED,
                            "items": schema.component("WebhookDelivery", DELIVERY_SCHEMA),
                        }
                    },
                }
            },
            "redeliver": {
                202: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["delivery", "status"],
                    "properties": {
                        "delivery": {"type": "string", "format": "uuid"},
                        "status": {"type": "string", "enum": ["pending"]},
                    },
                }
            },
        }.get(self.action)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            subscription = serializer.save()
            subscription.record(
                "webhook.created",
                {"url": [None, redacted_url(subscription.url)], "events": [None, subscription.events]},
            )
        shown = {**serializer.data, "url": subscription.url, "secret": subscription.secret}  # to its creator, once
        return Response(shown, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        before, url_before = SubscriptionSerializer(subscription).data, subscription.url
        serializer = self.get_serializer(subscription, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            serializer.save()
            after = serializer.data
            changes = {k: [before[k], after[k]] for k in ("events", "active", "description") if before[k] != after[k]}
            if subscription.url != url_before:  # recorded even when only a redacted part changed
                changes["url"] = [before["url"], after["url"]]
            subscription.record("webhook.updated", changes)
        return Response({**serializer.data, "url": subscription.url} if "url" in request.data else serializer.data)

    def destroy(self, request, pk=None):
        subscription = self.get_object()
        with transaction.atomic():
            subscription.record("webhook.deleted", {"url": [redacted_url(subscription.url), None]})
            subscription.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret; deliveries are signed with the new and the previous one until the next rotation."""
        return Response({"id": int(pk), "secret": self.get_object().rotate_secret()})

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a `webhook.test` event to this subscription (sent by the worker, not by this request)."""
        subscription = self.get_object()
        with transaction.atomic():
            delivery = subscription.send_test_event()
            subscription.record("webhook.test_queued", {"delivery": str(delivery.pk)})
        return Response({"delivery": str(delivery.pk)}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The newest deliveries with their attempts (status, duration, error)."""
        rows = (
            self.get_object()
            .deliveries.order_by("-order", "-created_at")
            .prefetch_related("attempt_log")[:MAX_DELIVERIES_LISTED]
        )
        return Response({"results": [delivery_dict(d) for d in rows]})

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("delivery", str, OpenApiParameter.PATH, pattern=rf"^{UUID_PATTERN}\Z")],
    )
    @action(detail=True, methods=["post"], url_path=rf"deliveries/(?P<delivery>{UUID_PATTERN})/redeliver")
    def redeliver(self, request, pk=None, delivery=None):
        """Send a delivery again (a dead letter, or one already delivered)."""
        found = WebhookDelivery.objects.filter(subscription=self.get_object(), pk=delivery).first()
        if found is None:
            raise DefinitionNotFound(f"No delivery {delivery} for this subscription.", path="delivery")
        with transaction.atomic():
            found.redeliver()
            found.subscription.record("webhook.redelivery_queued", {"delivery": str(found.pk)})
        return Response({"delivery": str(found.pk), "status": "pending"}, status=status.HTTP_202_ACCEPTED)


def delivery_dict(delivery: WebhookDelivery) -> dict:
    return {
        "id": str(delivery.pk),
        "event": delivery.payload.get("type"),
        "entry_id": delivery.entry_id,
        "status": delivery.status,
        "attempts": [
            {"at": a.at.isoformat(), "status_code": a.status_code, "duration_ms": a.duration_ms, "error": a.error}
            for a in delivery.attempt_log.all()
        ],
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "last_error": delivery.last_error,
    }
